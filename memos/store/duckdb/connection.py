"""Short DuckDB connections, shared safely by several processes.

DuckDB lets one process at a time open a file for writing, and a writer
excludes readers in other processes. memos runs many processes on one file
(a chat, a cron job, pipelines), so every access goes through a session:

* a reader/writer ``flock`` on ``<db>.lock`` (shared for reads, exclusive for
  writes) serialises processes; threads of one process take turns on a lock;
* the DuckDB connection is opened for the session and closed after it, so the
  file is held only as long as the work takes;
* acquiring waits with backoff up to a deadline (``MEMOS_LOCK_TIMEOUT``
  seconds, default 60) and then raises `DatabaseBusy` -- one clear line,
  never a raw lock error. A DuckDB lock held by some other program is retried
  the same way;
* a write session is one transaction: committed at the end, rolled back on
  any exception. Sessions opened inside a session join it.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from memos.errors import DatabaseBusy

DEFAULT_LOCK_TIMEOUT = 60.0


def lock_timeout_from_env() -> float:
    raw = os.environ.get("MEMOS_LOCK_TIMEOUT")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


@dataclass
class _Active:
    con: Any
    write: bool
    after_commit: list[Callable[[], None]] = field(default_factory=list)


class _Backoff:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.delay = 0.002

    def wait(self) -> bool:
        """Sleep a little; False once the deadline has passed."""
        now = time.monotonic()
        if now >= self.deadline:
            return False
        time.sleep(min(self.delay * (0.5 + random.random()), max(0.0, self.deadline - now)))
        self.delay = min(self.delay * 2, 0.1)
        return True


def _is_lock_conflict(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflict" in text or "could not set" in text or "locked" in text)


class Connections:
    """Sessions on one DuckDB file."""

    def __init__(self, path: Path, *, timeout: float | None = None,
                 configure: Callable[[Any], None] | None = None) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.timeout = lock_timeout_from_env() if timeout is None else timeout
        self._configure = configure
        self._thread_lock = threading.RLock()
        self._local = threading.local()
        self._lock_fd: int | None = None

    # -- public ----------------------------------------------------------------
    @contextmanager
    def session(self, *, write: bool) -> Iterator[Any]:
        active: _Active | None = getattr(self._local, "active", None)
        if active is not None:
            if write and not active.write:
                raise RuntimeError("a write was attempted inside a read-only session")
            yield active.con
            return
        with self._thread_lock:
            after_commit: list[Callable[[], None]] = []
            self._flock(write)
            try:
                con = self._open(write)
                self._local.active = _Active(con, write, after_commit)
                try:
                    if write:
                        con.execute("BEGIN TRANSACTION")
                    yield con
                    if write:
                        con.execute("COMMIT")
                except BaseException:
                    if write:
                        try:
                            con.execute("ROLLBACK")
                        except Exception:
                            pass  # the transaction may already be aborted
                    raise
                finally:
                    self._local.active = None
                    con.close()
            finally:
                self._unflock()
        for hook in after_commit:
            hook()

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the current write session has committed and released the file."""
        active: _Active | None = getattr(self._local, "active", None)
        if active is None:
            hook()
        else:
            active.after_commit.append(hook)

    @property
    def in_session(self) -> bool:
        return getattr(self._local, "active", None) is not None

    # -- internals -------------------------------------------------------------
    def _busy(self) -> DatabaseBusy:
        return DatabaseBusy(
            f"the database {self.path} stayed locked by another process for {self.timeout:g}s",
            "wait for the other memos command to finish, or raise MEMOS_LOCK_TIMEOUT",
        )

    def _flock(self, write: bool) -> None:
        if self._lock_fd is None:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        mode = (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB
        backoff = _Backoff(time.monotonic() + self.timeout)
        while True:
            try:
                fcntl.flock(self._lock_fd, mode)
                return
            except BlockingIOError:
                if not backoff.wait():
                    raise self._busy() from None

    def _unflock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _open(self, write: bool) -> Any:
        import duckdb

        backoff = _Backoff(time.monotonic() + self.timeout)
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=not write)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                # Another program (not memos) holds DuckDB's own lock: wait for it too.
                if not _is_lock_conflict(exc) or not backoff.wait():
                    if _is_lock_conflict(exc):
                        raise self._busy() from None
                    raise
        if self._configure is not None:
            self._configure(con)
        return con

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
