-- Settings every machine sharing the store uses (PostgreSQL: evolve.*, sandbox.*, models,
-- provider routing, MCP servers; never secrets, which stay in each machine's environment).
CREATE TABLE cluster_settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
