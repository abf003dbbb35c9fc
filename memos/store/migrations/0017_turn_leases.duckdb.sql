-- Turn leases (PostgreSQL; DuckDB's file locks need none): who runs an agent's turn, until when
-- (renewed by a heartbeat), and a fencing token that grows with each new holder. A replica that
-- hangs lets its lease lapse; another takes the turn over, and the stale holder's later writes
-- for the turn are refused (memos/store/turnlock.py).
CREATE TABLE turn_leases (
    name VARCHAR PRIMARY KEY,
    holder VARCHAR,
    token BIGINT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
