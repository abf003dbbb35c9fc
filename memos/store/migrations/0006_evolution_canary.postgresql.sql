-- Canaries and the evolution's record of its stages, score, spending and the reason it ended.
ALTER TABLE evolutions ADD COLUMN canary JSONB;
ALTER TABLE evolutions ADD COLUMN stages JSONB;
ALTER TABLE evolutions ADD COLUMN utility JSONB;
ALTER TABLE evolutions ADD COLUMN usage JSONB;
ALTER TABLE evolutions ADD COLUMN reason VARCHAR;

-- One row per live call of a canaried tool: which version answered, how it went; in shadow mode
-- also how the other version did on the same arguments (filled in when it finishes).
CREATE TABLE canary_calls (
    id VARCHAR PRIMARY KEY,
    evolution_id VARCHAR NOT NULL,
    agent_id VARCHAR NOT NULL,
    tool VARCHAR NOT NULL,
    tool_call_id VARCHAR,
    version VARCHAR NOT NULL,              -- old | new: the one whose answer the agent read
    outcome VARCHAR NOT NULL,              -- ok | error | timeout
    duration_ms DOUBLE PRECISION,
    output_chars INTEGER,
    shadow_outcome VARCHAR,                -- shadow mode: the new version's outcome
    shadow_ms DOUBLE PRECISION,
    differs BOOLEAN,                       -- shadow mode: both ok, outputs differ
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX canary_calls_evolution ON canary_calls (evolution_id);
