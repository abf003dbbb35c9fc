"""The DuckDB backend of `Store`: one file, the embedded default.

Everything but archival search is shared with PostgreSQL (memos/store/sql); what is
DuckDB's own is the multi-process file locking (connection.py), the vector index kept
beside the file (vector_index.py) and BM25 over a term table (passages.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from memos.store.duckdb.arrow_insert import insert_from_arrow
from memos.store.duckdb.connection import Connections
from memos.store.duckdb.passages import PassagesMixin
from memos.store.duckdb.vector_index import VectorIndexes
from memos.store.sql.store import SQLStore
from memos.store.turnlock import FileTurnLock


class DuckDBStore(PassagesMixin, SQLStore):
    dialect = "duckdb"
    _db: Connections

    def __init__(self, path: Path, *, lock_timeout: float | None = None) -> None:
        self.path = path
        self.location = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Connections(path, timeout=lock_timeout)
        self._migrate()
        with self._db.session(write=False) as con:
            store_id = con.execute("SELECT value FROM store_meta WHERE key = 'store_id'").fetchone()[0]
        self._vectors = VectorIndexes(path.with_name(path.name + ".vectors"), store_id)

    # -- hooks of SQLStore ---------------------------------------------------------
    def _database_exists(self) -> bool:
        return self.path.exists()

    def _after_migrations(self) -> None:
        # Schema changes go into the database file now, never stay in the WAL: DuckDB 1.5.5
        # fails to replay DDL from a WAL left by a killed process (tests/integration).
        self._db.checkpoint()

    def _insert_many(self, con: Any, table: str, columns: str, values: Iterable[Sequence[Any]]) -> None:
        # DuckDB's executemany runs one statement per row; an Arrow table goes in at once.
        import pyarrow as pa

        names = [c.strip() for c in columns.split(",")]
        arrow = pa.table({name: pa.array(list(column)) for name, column in zip(names, zip(*values))})
        insert_from_arrow(con, arrow, "memos_new_rows", f"INSERT INTO {table} ({columns}) SELECT {columns} FROM memos_new_rows")

    def _delete_agent_extras(self, con: Any, agent_id: str) -> None:
        con.execute("DELETE FROM passage_terms WHERE agent_id = ?", [agent_id])
        self._db.after_commit(lambda: self._vectors.drop(agent_id))

    def turn_lock(self, agent_id: str) -> FileTurnLock:
        return FileTurnLock(self.path.with_name(self.path.name + ".turns") / f"{agent_id}.lock")

    def change_stamp(self) -> Any:
        from memos.store.duckdb.watch import file_stamp

        return file_stamp(self.path)

    def backend_details(self) -> dict[str, Any]:
        return {"backend": "duckdb", "location": str(self.path), "vector_index": "usearch HNSW beside the file",
                "text_search": "BM25 over stemmed terms"}

    def tune_for_long_running(self) -> None:
        """DuckDB tries `import pandas` twice per bound parameter; without pandas installed each
        failed import rescans sys.path (~9 ms per agent step). A finder placed first answers
        "no pandas" at once. (Not Python's None-in-sys.modules marker: pyarrow, compiled with
        Cython, takes that None for the module and fails; importing pyarrow first to settle its
        answer cost a one-shot `memos send` 26 MiB and 20 ms.)"""
        import importlib.util
        import sys

        if any(isinstance(finder, _NoPandas) for finder in sys.meta_path):
            return
        if "pandas" in sys.modules or importlib.util.find_spec("pandas") is not None:
            return
        sys.meta_path.insert(0, _NoPandas())


class _NoPandas:
    """A meta-path finder that fails `import pandas` at once (pandas is not installed)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("No module named 'pandas'", name="pandas")
        return None
