-- Point lookups of passages by seq (the vector index's key). With a literal IN list and
-- no other predicate, DuckDB answers from this ART index instead of scanning the table.
CREATE INDEX passages_seq ON passages (seq);
