-- Groups (Letta's multi-agent groups; memos keeps sleep-time ones): a manager agent and the agents
-- working for it. A sleep-time group's agents run every `frequency` turns of the manager, on
-- what was said since `last_processed_message_id`.
CREATE TABLE agent_groups (
    id VARCHAR PRIMARY KEY,
    manager_type VARCHAR NOT NULL,
    manager_agent_id VARCHAR,
    agent_ids JSONB NOT NULL,
    description VARCHAR,
    frequency INTEGER,
    turns_counter INTEGER NOT NULL DEFAULT 0,
    last_processed_message_id VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
