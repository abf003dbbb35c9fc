-- Lookups of passages by seq, and the HNSW graph of their embeddings (cosine), which
-- pgvector keeps current on every insert and delete.
CREATE UNIQUE INDEX passages_seq ON passages (seq);
CREATE INDEX passages_embedding ON passages USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128);
