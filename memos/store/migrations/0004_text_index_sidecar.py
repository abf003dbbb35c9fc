"""Text search on DuckDB moved to a tantivy index beside the database file
(memos/store/duckdb/text_index.py), built from the passages themselves on first use; the
term table of 0002 is no longer written or read, nor is its ``passages.n_terms`` column
(DuckDB cannot drop a column of a table with an index; it stays, unused). PostgreSQL keeps its tsvector and GIN
index: nothing changes there (the migration is recorded so both backends share numbers).
"""

from __future__ import annotations

from typing import Any


def upgrade(con: Any, dialect: str) -> None:
    if dialect == "duckdb":
        con.execute("DROP TABLE passage_terms")
    elif dialect != "postgresql":
        raise ValueError(f"no {dialect} variant of this migration")
