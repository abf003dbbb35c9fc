"""Text search that stays correct after every insert.

DuckDB's fts index is rebuilt, not updated, on insert; so memos keeps its own
term table (stemmed terms with their counts per passage) maintained in the
same transaction as the passage, and ranks with BM25 over it. Existing
passages are backfilled here.

PostgreSQL's full-text search has no such gap: a generated tsvector column
with a GIN index follows every insert.
"""

from __future__ import annotations

from typing import Any

SQL = """
CREATE TABLE passage_terms (
    agent_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    term VARCHAR NOT NULL,
    tf INTEGER NOT NULL
);
ALTER TABLE passages ADD COLUMN n_terms INTEGER DEFAULT 0;
"""

POSTGRESQL = """
ALTER TABLE passages ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED;
CREATE INDEX passages_tsv ON passages USING gin (tsv);
"""


def upgrade(con: Any, dialect: str) -> None:
    from memos.store.text import term_counts

    if dialect == "postgresql":
        con.execute(POSTGRESQL)
        return
    if dialect != "duckdb":
        raise ValueError(f"no {dialect} variant of this migration")
    for statement in SQL.split(";"):
        if statement.strip():
            con.execute(statement)
    rows = con.execute("SELECT agent_id, seq, text FROM passages ORDER BY seq").fetchall()
    for agent_id, seq, text in rows:
        counts = term_counts(text)
        con.execute("UPDATE passages SET n_terms = ? WHERE seq = ?", [sum(counts.values()), seq])
        if counts:
            con.executemany(
                "INSERT INTO passage_terms VALUES (?, ?, ?, ?)",
                [(agent_id, seq, term, tf) for term, tf in counts.items()],
            )
