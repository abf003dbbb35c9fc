"""The PostgreSQL backend of `Store`: chosen by MEMOS_DATABASE_URL or `database_url` in config.

Everything but archival memory is the SQL shared with DuckDB (memos/store/sql); what
is PostgreSQL's own is the connection pool (connection.py), advisory locks where
concurrent writers must take turns, and pgvector + full-text search (passages.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from memos.errors import TurnLost
from memos.store.base import Finding
from memos.store.postgres.connection import PgConnections, redacted
from memos.store.postgres.locks import advisory_lock
from memos.store.postgres.passages import PgPassagesMixin
from memos.store.postgres.turnlease import AdvisoryTurnLock, lease_key
from memos.store.sql.store import SQLStore

URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(value: str) -> bool:
    return value.startswith(URL_SCHEMES)


class PostgresStore(PgPassagesMixin, SQLStore):
    dialect = "postgresql"
    _vector_type = "vector"
    cluster = True  # replicas on other machines serve the same agents

    def __init__(self, url: str, *, lock_timeout: float | None = None) -> None:
        self.url = url
        self.location = redacted(url)
        self._db = PgConnections(url, timeout=lock_timeout)
        self._migrate()

    # -- hooks of SQLStore ---------------------------------------------------------
    def _prepare_width(self, width: int) -> None:
        self._vector_index_for(width)

    def _lock(self, con: Any, *keys: str) -> None:
        # Transaction-scoped: released at commit or rollback. Sorted, so two callers taking
        # several keys take them in the same order and cannot deadlock on each other.
        for key in sorted(set(keys)):
            con.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [f"memos:{key}"])

    def _insert_many(self, con: Any, table: str, columns: str, values: Iterable[Sequence[Any]]) -> None:
        import numpy as np

        with con.raw.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in values:
                # COPY's text form of a real[] is {…}; pgvector's dumper would write a numpy array as [...]
                copy.write_row([v.tolist() if isinstance(v, np.ndarray) else v for v in row])

    def cluster_lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        return advisory_lock(self.url, name, timeout)

    def turn_lock(self, agent_id: str, conversation: str | None = None) -> AdvisoryTurnLock:
        return AdvisoryTurnLock(self.url, f"memos:turn:{agent_id}" + (f":{conversation}" if conversation else ""),
                                self._check_turn_lease)

    def _check_turn_lease(self, name: str, token: int) -> None:
        # FOR SHARE: a takeover (which updates the row) waits for this transaction, so the turn's
        # write lands before it or is refused after it, never both.
        with self._write() as con:
            row = con.execute("SELECT token FROM turn_leases WHERE name = ? FOR SHARE", [name]).fetchone()
        if row is None or int(row[0]) != token:
            raise TurnLost("another replica took this turn over (this process had stopped answering)",
                           "send the message again; nothing of this turn was written after the takeover")

    def check_cluster(self, *, repair: bool) -> list[Finding]:
        with self._read() as con:
            lapsed = con.execute("SELECT name, holder FROM turn_leases WHERE holder IS NOT NULL "
                                 "AND expires_at < now()").fetchall()
            held = {r[0] for r in con.execute(
                "SELECT (classid::bigint << 32) | objid::bigint FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND objsubid = 1").fetchall()}
        hung = [(name, holder) for name, holder in lapsed if lease_key(name) & 0xFFFFFFFFFFFFFFFF in held]
        gone = [(name, holder) for name, holder in lapsed if (name, holder) not in hung]
        findings = []
        if gone and repair:
            with self._write() as con:
                for name, holder in gone:
                    con.execute("UPDATE turn_leases SET holder = NULL WHERE name = ? AND holder = ?", [name, holder])
            findings.append(Finding("turn leases", "repaired", f"{len(gone)} left by replicas that stopped, released"))
        elif gone:
            findings.append(Finding("turn leases", "problem", f"{len(gone)} left by replicas that stopped "
                                    "(`memos doctor` releases them; the next turn would too)"))
        if hung:
            holders = ", ".join(sorted({holder for _, holder in hung}))
            findings.append(Finding("turn leases", "problem", f"{len(hung)} held by replicas that stopped renewing "
                                    f"({holders}): hung or frozen; the next turn of each agent takes it over"))
        return findings or [Finding("turn leases", "ok")]

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
