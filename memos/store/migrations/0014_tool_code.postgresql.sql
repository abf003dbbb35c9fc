-- Agents' tool code kept in the database, so every replica of `memos serve` runs the same code
-- (memos/tools/shared_code.py). A pack is what one change added to the agent's git repository
-- (git pack-objects, self-contained); refs are its branches. Packs are only ever added; a ref
-- moves by compare-and-swap, so no replica writes its local version back over another's.
CREATE TABLE tool_code_packs (
    agent_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    pack BYTEA NOT NULL,
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
