-- Folders (Letta's folders, once "sources"): files an agent can read once the folder is attached.
-- A file's text is kept whole, and in chunks with their embeddings for semantic search.
CREATE TABLE folders (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE,
    description VARCHAR,
    instructions VARCHAR,
    metadata JSONB,
    embedding_model VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE folder_files (
    id VARCHAR PRIMARY KEY,
    folder_id VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    original_file_name VARCHAR NOT NULL,
    file_type VARCHAR,
    file_size BIGINT NOT NULL,
    content VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE file_chunks (
    file_id VARCHAR NOT NULL,
    folder_id VARCHAR NOT NULL,
    chunk INTEGER NOT NULL,
    start_line INTEGER NOT NULL,
    text VARCHAR NOT NULL,
    vector REAL[] NOT NULL
);
CREATE TABLE agent_folders (
    agent_id VARCHAR NOT NULL,
    folder_id VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- The files an agent has open (a file of an attached folder without a row is closed).
CREATE TABLE agent_files (
    agent_id VARCHAR NOT NULL,
    file_id VARCHAR NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER,
    opened_at TIMESTAMP NOT NULL
);
CREATE INDEX folder_files_folder ON folder_files (folder_id, file_name);
CREATE INDEX file_chunks_folder ON file_chunks (folder_id);
CREATE INDEX agent_folders_agent ON agent_folders (agent_id);
