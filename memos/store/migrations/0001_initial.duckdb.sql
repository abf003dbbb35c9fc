-- memos schema, first version. Append-only: never edit; add the next file.
-- Uniqueness of agent names and block labels per agent is enforced by the store
-- under its writer lock: DuckDB turns an UPDATE of an indexed column into
-- delete + insert, which trips unique indexes on rename.

CREATE TABLE store_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
INSERT INTO store_meta VALUES ('store_id', CAST(uuid() AS VARCHAR));

CREATE TABLE agents (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    system VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    embedding_model VARCHAR NOT NULL,
    context_window INTEGER NOT NULL,
    tool_rules JSON NOT NULL DEFAULT '[]',
    metadata JSON NOT NULL DEFAULT '{}',
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
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE block_history (
    block_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    old_value VARCHAR,
    new_value VARCHAR NOT NULL,
    actor VARCHAR NOT NULL,
    reason VARCHAR NOT NULL DEFAULT '',
    restored_from INTEGER,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE messages (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    role VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    name VARCHAR,
    tool_calls JSON,
    tool_call_id VARCHAR,
    step_id VARCHAR,
    run_id VARCHAR,
    in_context BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMP NOT NULL
);

-- seq is global and monotonic: it keys the vector index sidecar.
CREATE TABLE passages (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    text VARCHAR NOT NULL,
    tags VARCHAR[] NOT NULL DEFAULT [],
    embedding FLOAT[384] NOT NULL,
    embedding_model VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE tools (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    json_schema JSON NOT NULL,
    source_type VARCHAR NOT NULL,          -- builtin | repo
    source_code VARCHAR,
    repo_commit VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE agent_tools (
    agent_id VARCHAR NOT NULL,
    tool_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
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
    cost_usd DOUBLE,
    latency_ms DOUBLE,
    stop_reason VARCHAR,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE tool_calls (
    id VARCHAR PRIMARY KEY,
    step_id VARCHAR,
    agent_id VARCHAR NOT NULL,
    tool_call_id VARCHAR,
    name VARCHAR NOT NULL,
    arguments JSON,
    result VARCHAR,
    status VARCHAR NOT NULL,               -- success | error
    duration_ms DOUBLE,
    tool_commit VARCHAR,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE evolutions (
    id VARCHAR PRIMARY KEY,
    agent_id VARCHAR NOT NULL,
    branch VARCHAR NOT NULL,
    base_commit VARCHAR,
    head_commit VARCHAR,
    status VARCHAR NOT NULL,               -- proposed | tested | accepted | rejected | rolled_back
    title VARCHAR NOT NULL DEFAULT '',
    rationale VARCHAR NOT NULL DEFAULT '',
    test_report JSON,
    shadow_report JSON,
    decided_by VARCHAR,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
