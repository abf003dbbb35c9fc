-- A cancel asked for through any replica (POST .../cancel): the process running the turn looks
-- at its run's row and stops at its next safe point.
ALTER TABLE runs ADD COLUMN cancel_requested_at TIMESTAMP;
-- The chunks of background streams (Letta's `background: true`), so any replica can resume one
-- while it runs and after. Bounded: the newest runs' chunks, for a few hours (server/streams.py).
CREATE TABLE run_chunks (
    run_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    line VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, seq)
);
