-- Agents' tool code kept in the database (used by the PostgreSQL backend, where several machines
-- serve one store; a DuckDB home keeps the repository on its disk and leaves these empty). Kept
-- in both schemas so the two stay the same shape.
CREATE TABLE tool_code_packs (
    agent_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    pack BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, seq)
);
CREATE TABLE tool_code_refs (
    agent_id VARCHAR NOT NULL,
    ref VARCHAR NOT NULL,
    commit_sha VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, ref)
);
