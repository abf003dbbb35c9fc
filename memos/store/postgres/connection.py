"""Sessions on a PostgreSQL database: a connection pool, one transaction per write session.

PostgreSQL lets many processes write at once, so unlike the DuckDB file there is
nothing to lock around a session; the store serialises what must not interleave
(choosing the next global seq, checking a label is free) with transaction-scoped
advisory locks (`lock`). Sessions opened inside a session join it, as with DuckDB.

The shared SQL (memos/store/sql) is written with DuckDB's placeholders, ``?`` and
``$name``; `Translated` rewrites it to psycopg's ``%s`` and ``%(name)s`` once per
statement text.
"""

from __future__ import annotations

import atexit
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from memos.errors import DatabaseBusy, DatabaseUnavailable, first_line
from memos.store.sessions import ActiveSession, ConnectionMemo, ThreadSessions, lock_timeout_from_env

_NAMED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
POOL_SIZE = 16  # connections one process may hold at once (the API server's worker threads)
# A machine that vanishes (a frozen VM, a cut cable) leaves its TCP sessions open on the server,
# and with them its locks, for as long as the kernel's default keepalive (two hours): these end
# them within ~30 s. Unix-socket connections ignore them (a local peer's death is seen at once).
KEEPALIVES: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
              "tcp_user_timeout": 30_000}


def connect(url: str, role: str = "", **options: Any) -> Any:
    """A connection of its own (not from the pool), autocommit, named as this process's."""
    import psycopg

    from memos.store.replica import session_label

    return psycopg.connect(url, autocommit=True, application_name=session_label(role), connect_timeout=10,
                           **KEEPALIVES, **options)


@lru_cache(maxsize=1024)
def to_psycopg(sql: str) -> str:
    """DuckDB placeholders to psycopg's; a literal % is doubled. The shared SQL has no ? or $
    inside string literals."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%")).replace("?", "%s")


def redacted(url: str) -> str:
    """The URL without its password, for messages and `memos db info`."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


class Translated:
    """A psycopg connection that takes the shared SQL as written."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        if params is None:
            return self.raw.execute(sql)
        return self.raw.execute(to_psycopg(sql), params)


def _configure(raw: Any) -> None:
    from psycopg.types.string import TextLoader

    # JSON comes back as text, as it does from DuckDB, so both backends share their row readers.
    raw.adapters.register_loader("jsonb", TextLoader)
    raw.adapters.register_loader("json", TextLoader)


class PgConnections(ThreadSessions):
    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        super().__init__()
        self.url = url
        self.timeout = lock_timeout_from_env() if timeout is None else timeout
        self._pool: Any | None = None
        self._pool_lock = threading.Lock()
        self._with_vectors: weakref.WeakSet[Any] = weakref.WeakSet()
        # Facts to remember between sessions: none. Other processes write at any time, so a
        # fact read from the database holds only inside its transaction.
        self.memo = ConnectionMemo(enabled=False)

    def with_vectors(self, con: Translated) -> Any:
        """The raw connection, able to send and read pgvector's binary vectors (numpy arrays):
        40x faster than their text form. Registered per connection, on first use: the vector
        type exists only once the first migration has run."""
        raw = con.raw
        if raw not in self._with_vectors:
            from pgvector.psycopg import register_vector

            register_vector(raw)
            self._with_vectors.add(raw)
        return raw

    def unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"cannot use the PostgreSQL database {redacted(self.url)}: {first_line(exc)}",
                                   "check MEMOS_DATABASE_URL (or database_url in config) and that the server runs")

    def _get_pool(self) -> Any:
        with self._pool_lock:
            if self._pool is None:
                import psycopg
                from psycopg_pool import ConnectionPool

                # One plain connection first: a pool would hide why the server cannot be reached.
                try:
                    connect(self.url).close()
                except psycopg.Error as exc:
                    raise self.unavailable(exc) from None
                from memos.store.replica import session_label

                self._pool = ConnectionPool(self.url, min_size=1, max_size=POOL_SIZE, open=True,
                                            kwargs={"autocommit": True, "connect_timeout": 10,
                                                    "application_name": session_label(), **KEEPALIVES},
                                            configure=_configure, name="memos")
                # Closed at exit, or its worker threads complain as the interpreter shuts down.
                atexit.register(self.close)
            return self._pool

    @contextmanager
    def session(self, *, write: bool) -> Iterator[Translated]:
        joined = self.joined(write)
        if joined is not None:
            yield joined
            return
        import psycopg
        from psycopg_pool import PoolTimeout

        after_commit: list[Callable[[], object]] = []
        pool = self._get_pool()
        try:
            with pool.connection(timeout=self.timeout) as raw:
                con = Translated(raw)
                self.active = ActiveSession(con, write, after_commit)
                try:
                    with raw.transaction():
                        yield con
                finally:
                    self.active = None
        except PoolTimeout:
            raise DatabaseBusy(f"no connection to {redacted(self.url)} came free within {self.timeout:g}s",
                               "wait for other memos work to finish, or raise MEMOS_LOCK_TIMEOUT") from None
        except psycopg.OperationalError as exc:
            # A session ended by the server (a replica that took over this one's turn while it
            # hung ends all of its sessions): replace the pool's other dead connections now,
            # so only the work in flight fails, not the next requests.
            pool.check()
            raise self.unavailable(exc) from None
        for hook in after_commit:
            hook()

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
