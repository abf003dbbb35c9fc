-- Archives (Letta's): passages shared by several agents. An archive's passages live in
-- passages like an agent's (agent_id holds the archive's id), embedded with the archive's own
-- model; each agent it is attached to (agent_archives) searches them beside its own.
CREATE TABLE archives (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    description VARCHAR,
    embedding_model VARCHAR NOT NULL,
    metadata JSONB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE agent_archives (
    agent_id VARCHAR NOT NULL,
    archive_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (agent_id, archive_id)
);
