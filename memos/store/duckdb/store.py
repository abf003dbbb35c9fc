"""The DuckDB backend of `Store`: one file, the embedded default.

Everything but archival search is shared with PostgreSQL (memos/store/sql); what is
DuckDB's own is the multi-process file locking (connection.py), the vector index kept
beside the file (vector_index.py) and the text index beside it (text_index.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.store.clusterlock import file_lock, lock_file_name
from memos.store.duckdb.bulk_insert import insert_rows, skip_pandas_lookups
from memos.store.duckdb.connection import Connections
from memos.store.sql.store import SQLStore
from memos.store.turnlock import FileTurnLock

if TYPE_CHECKING:
    from memos.store.duckdb.text_index import TextIndexes
    from memos.store.duckdb.vector_index import VectorIndexes


@cache
def _archival() -> type:
    """Archival memory's machinery (passages.py and what it builds on: search, both sidecar
    indexes), imported on first use: most commands never touch a passage, and importing it all
    costs ~12 ms of every command's start-up (bench/usage.py)."""
    from memos.store.duckdb.passages import PassagesMixin

    return PassagesMixin


def _archival_method(name: str) -> Any:
    def method(self: DuckDBStore, *args: Any, **kwargs: Any) -> Any:
        return getattr(_archival(), name)(self, *args, **kwargs)

    method.__name__ = name
    return method


class DuckDBStore(SQLStore):
    """SQLStore plus archival memory (duckdb/passages.py, whose methods it takes on first use)."""

    dialect = "duckdb"
    _db: Connections

    # What the archival machinery overrides of SQLStore's; its own helpers come through __getattr__.
    insert_passages = _archival_method("insert_passages")
    get_passage = _archival_method("get_passage")
    list_passages = _archival_method("list_passages")
    search_passages = _archival_method("search_passages")
    delete_passages = _archival_method("delete_passages")
    passage_stats = _archival_method("passage_stats")
    rebuild_vector_index = _archival_method("rebuild_vector_index")
    defer_index_upkeep = _archival_method("defer_index_upkeep")
    wait_for_index_upkeep = _archival_method("wait_for_index_upkeep")
    _check_indexes = _archival_method("_check_indexes")
    _upkeep: Any = None  # a BackgroundUpkeep once defer_index_upkeep was asked for (duckdb/background.py)

    def __getattr__(self, name: str) -> Any:
        """The archival machinery's other methods (its helpers call each other through self)."""
        found = getattr(_archival(), name, None) if not name.startswith("__") else None
        if not callable(found):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return found.__get__(self, type(self))

    def __init__(self, path: Path, *, lock_timeout: float | None = None) -> None:
        self.path = path
        self.location = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        skip_pandas_lookups()  # before the first bound parameter
        self._db = Connections(path, timeout=lock_timeout)
        self._migrate()
        with self._db.session(write=False) as con:
            self._store_id = con.execute("SELECT value FROM store_meta WHERE key = 'store_id'").fetchone()[0]

    @cached_property
    def _vectors(self) -> VectorIndexes:
        from memos.store.duckdb.vector_index import VectorIndexes

        return VectorIndexes(self.path.with_name(self.path.name + ".vectors"), self._store_id)

    @cached_property
    def _texts(self) -> TextIndexes:
        from memos.store.duckdb.text_index import TextIndexes

        return TextIndexes(self.path.with_name(self.path.name + ".text"), self._store_id)

    # -- hooks of SQLStore ---------------------------------------------------------
    def _database_exists(self) -> bool:
        return self.path.exists()

    def _after_migrations(self) -> None:
        # Schema changes go into the database file now, never stay in the WAL: DuckDB 1.5.5
        # fails to replay DDL from a WAL left by a killed process (tests/integration).
        self._db.checkpoint()

    def _insert_many(self, con: Any, table: str, columns: str, values: Iterable[Sequence[Any]]) -> None:
        # DuckDB's executemany runs one statement per row; bulk_insert puts them in at once.
        insert_rows(con, table, [c.strip() for c in columns.split(",")], list(values))

    def _after_reembed(self, con: Any, agent_id: str) -> None:
        # The vector graph holds the old model's vectors: dropped at commit, so searches score
        # the new ones exactly until the next catch-up builds it again.
        self._db.after_commit(lambda: self._vectors.drop(agent_id))

    def _delete_agent_extras(self, con: Any, agent_id: str) -> None:
        self._db.after_commit(lambda: self._vectors.drop(agent_id))
        self._db.after_commit(lambda: self._texts.drop(agent_id))

    def keep_connection_idle(self, seconds: float) -> None:
        # Reopening costs ~6 ms and the first statements on a fresh connection ~20 ms more (a
        # server's request after a pause: 29 ms health checks 0.3 s apart, 1 ms back to back),
        # and the reads a turn remembers (ConnectionMemo) live only as long as the connection.
        self._db.idle = seconds

    def cluster_lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        return file_lock(self.path.with_name(self.path.name + ".locks") / lock_file_name(name), name, timeout)

    def turn_lock(self, agent_id: str, conversation: str | None = None) -> FileTurnLock:
        name = f"{agent_id}.lock" if conversation is None else f"{agent_id}.{conversation}.lock"
        return FileTurnLock(self.path.with_name(self.path.name + ".turns") / name)

    def change_stamp(self) -> Any:
        from memos.store.duckdb.watch import file_stamp

        return file_stamp(self.path)

    def backend_details(self) -> dict[str, Any]:
        return {"backend": "duckdb", "location": str(self.path), "vector_index": "usearch HNSW beside the file",
                "text_search": "BM25 over stemmed terms, a tantivy index beside the file"}
