-- Embeddings of any width (issue 32): each agent embeds with its own model. The column holds
-- vectors of any length; the HNSW graphs are partial expression indexes, one per width, each
-- over `embedding::vector(N)` where `vector_dims(embedding) = N` (postgres/vectors.py makes
-- one the first time a width is stored, and searches repeat that expression and predicate so
-- the planner uses it). The 384-wide one, memos's default model, is made here.
DROP INDEX IF EXISTS passages_embedding;
ALTER TABLE passages ALTER COLUMN embedding TYPE vector;
CREATE INDEX passages_embedding_384 ON passages USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WITH (m = 16, ef_construction = 128) WHERE vector_dims(embedding) = 384;
-- `memos archival reembed`: new vectors wait here, batch by batch (so a run resumes after a
-- kill), until the agent switches to them in one transaction.
CREATE TABLE reembed_vectors (
    agent_id VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    embedding vector NOT NULL,
    PRIMARY KEY (agent_id, model, seq)
);
