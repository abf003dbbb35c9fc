-- memos schema, first version, for PostgreSQL. Append-only: never edit; add the next file.
-- The same tables and columns as the DuckDB schema, so the shared SQL (memos/store/sql) runs
-- on both. JSON is stored as jsonb (memos reads it back as text, as from DuckDB); times are
-- naive UTC. Unlike DuckDB, PostgreSQL keeps unique and lookup indexes through updates.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE store_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
INSERT INTO store_meta VALUES ('store_id', CAST(gen_random_uuid() AS VARCHAR));

CREATE TABLE agents (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    description VARCHAR NOT NULL DEFAULT '',
    system VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    embedding_model VARCHAR NOT NULL,
    context_window INTEGER NOT NULL,
    tool_rules JSONB NOT NULL DEFAULT '[]',
    metadata JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE blocks (
    id VARCHAR PRIMARY KEY,
    label VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    char_limit INTEGER NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    read_only BOOLEAN NOT NULL DEFAULT false,
    is_template BOOLEAN NOT NULL DEFAULT false,
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE agent_blocks (
    agent_id VARCHAR NOT NULL,
    block_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, block_id)
);
CREATE INDEX agent_blocks_block ON agent_blocks (block_id);

CREATE TABLE block_history (
    block_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    old_value VARCHAR,
    new_value VARCHAR NOT NULL,
    actor VARCHAR NOT NULL,
    reason VARCHAR NOT NULL DEFAULT '',
    restored_from INTEGER,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (block_id, version)
);

CREATE TABLE messages (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL UNIQUE,
    role VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    name VARCHAR,
    tool_calls JSONB,
    tool_call_id VARCHAR,
    step_id VARCHAR,
    run_id VARCHAR,
    in_context BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX messages_agent_seq ON messages (agent_id, seq);

-- seq is global and monotonic, as in DuckDB.
CREATE TABLE passages (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    text VARCHAR NOT NULL,
    tags VARCHAR[] NOT NULL DEFAULT '{}',
    embedding vector(384) NOT NULL,
    embedding_model VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX passages_agent_seq ON passages (agent_id, seq);

CREATE TABLE tools (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    json_schema JSONB NOT NULL,
    source_type VARCHAR NOT NULL,
    source_code VARCHAR,
    repo_commit VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE agent_tools (
    agent_id VARCHAR NOT NULL,
    tool_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, tool_id)
);

CREATE TABLE runs (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    stop_reason VARCHAR,
    created_at TIMESTAMP NOT NULL,
    completed_at TIMESTAMP
);

CREATE TABLE steps (
    id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    agent_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd DOUBLE PRECISION,
    latency_ms DOUBLE PRECISION,
    stop_reason VARCHAR,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE tool_calls (
    id VARCHAR PRIMARY KEY,
    step_id VARCHAR,
    agent_id VARCHAR NOT NULL,
    tool_call_id VARCHAR,
    name VARCHAR NOT NULL,
    arguments JSONB,
    result VARCHAR,
    status VARCHAR NOT NULL,
    duration_ms DOUBLE PRECISION,
    tool_commit VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX tool_calls_agent ON tool_calls (agent_id, status);

CREATE TABLE evolutions (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    branch VARCHAR NOT NULL,
    base_commit VARCHAR,
    head_commit VARCHAR,
    status VARCHAR NOT NULL,
    title VARCHAR NOT NULL DEFAULT '',
    rationale VARCHAR NOT NULL DEFAULT '',
    test_report JSONB,
    shadow_report JSONB,
    decided_by VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
