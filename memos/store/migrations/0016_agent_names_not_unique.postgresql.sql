-- Two agents may share a name where Letta's API allows it, as on DuckDB: the store checks names
-- itself (under the agent-names lock) where memos wants them unique. An index keeps lookups by
-- name fast without the constraint.
ALTER TABLE agents DROP CONSTRAINT IF EXISTS agents_name_key;
CREATE INDEX IF NOT EXISTS agents_by_name ON agents (name);
