-- Scheduled messages (Letta's agents.schedule, memos schedule): messages sent to an agent at a
-- time (scheduled_at) or on a cron expression read in a time zone. next_run_at is when it is due
-- next (NULL: a one-off that has run). Each due time is claimed once, in scheduled_runs, by the
-- process that then runs the turn: several processes or replicas never send it twice.
CREATE TABLE scheduled_messages (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    messages JSONB NOT NULL,
    options JSONB NOT NULL,
    cron_expression VARCHAR,
    time_zone VARCHAR NOT NULL,
    scheduled_at TIMESTAMP,
    next_run_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE scheduled_runs (
    schedule_id VARCHAR NOT NULL,
    due_at TIMESTAMP NOT NULL,
    agent_id VARCHAR NOT NULL,
    claimed_by VARCHAR NOT NULL,
    claimed_at TIMESTAMP NOT NULL,
    run_id VARCHAR,
    status VARCHAR NOT NULL,
    detail VARCHAR,
    PRIMARY KEY (schedule_id, due_at)
);
