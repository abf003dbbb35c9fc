"""The PostgreSQL backend of `Store`: chosen by MEMOS_DATABASE_URL or `database_url` in config.

Everything but archival memory is the SQL shared with DuckDB (memos/store/sql); what
is PostgreSQL's own is the connection pool (connection.py), advisory locks where
concurrent writers must take turns, and pgvector + full-text search (passages.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from memos.store.clusterlock import advisory_lock
from memos.store.postgres.connection import PgConnections, redacted
from memos.store.postgres.passages import PgPassagesMixin
from memos.store.sql.store import SQLStore
from memos.store.turnlock import AdvisoryTurnLock

URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(value: str) -> bool:
    return value.startswith(URL_SCHEMES)


class PostgresStore(PgPassagesMixin, SQLStore):
    dialect = "postgresql"
    shares_tool_code = True  # replicas on other machines serve the same agents

    def __init__(self, url: str, *, lock_timeout: float | None = None) -> None:
        self.url = url
        self.location = redacted(url)
        self._db = PgConnections(url, timeout=lock_timeout)
        self._migrate()

    # -- hooks of SQLStore ---------------------------------------------------------
    def _lock(self, con: Any, *keys: str) -> None:
        # Transaction-scoped: released at commit or rollback. Sorted, so two callers taking
        # several keys take them in the same order and cannot deadlock on each other.
        for key in sorted(set(keys)):
            con.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [f"memos:{key}"])

    def _insert_many(self, con: Any, table: str, columns: str, values: Iterable[Sequence[Any]]) -> None:
        with con.raw.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)

    def cluster_lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        return advisory_lock(self.url, name, timeout)

    def turn_lock(self, agent_id: str, conversation: str | None = None) -> AdvisoryTurnLock:
        return AdvisoryTurnLock(self.url, f"memos:turn:{agent_id}" + (f":{conversation}" if conversation else ""))

    def rebuild_vector_index(self, agent_id: str) -> None:
        """pgvector keeps the index current by itself; what can lag after a bulk load is the
        server's statistics of passages (autovacuum refreshes them within minutes), which
        the planner uses. Refresh them now."""
        with self._write() as con:
            con.execute("ANALYZE passages")

    def change_stamp(self) -> Any:
        # The server's transaction snapshot (oldest running, next and running transaction ids)
        # changes when any writing transaction starts and again when it ends; read-only ones
        # take no transaction id. Server-wide, so another database's writes show here too:
        # at worst a needless refresh.
        with self._read() as con:
            return con.execute("SELECT CAST(pg_current_snapshot() AS VARCHAR)").fetchone()[0]

    def backend_details(self) -> dict[str, Any]:
        with self._read() as con:
            server = con.execute("SHOW server_version").fetchone()[0]
            vector = con.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        return {"backend": "postgresql", "location": self.location, "server_version": server,
                "pgvector": vector[0] if vector else None, "vector_index": "pgvector HNSW (cosine)",
                "text_search": "PostgreSQL full-text search (english)"}
