"""Short DuckDB connections, shared safely by several processes.

DuckDB lets one process at a time open a file for writing, and a writer
excludes readers in other processes. memos runs many processes on one file
(a chat, a cron job, pipelines), so every access goes through a session:

* a reader/writer ``flock`` on ``<db>.lock`` (shared for reads, exclusive for
  writes) serialises processes; threads of one process take turns on a lock.
  flock favours nobody, so a steady stream of readers could starve a writer:
  a second lock, ``<db>.lock.turnstile``, lets a waiting writer stop new
  readers from coming in (writer preference);
* the DuckDB connection is opened for the session and closed after it, so the
  file is held only as long as the work takes;
* acquiring waits with backoff up to a deadline (``MEMOS_LOCK_TIMEOUT``
  seconds, default 60) and then raises `DatabaseBusy` -- one clear line,
  never a raw lock error. A DuckDB lock held by some other program is retried
  the same way;
* a write session is one transaction: committed at the end, rolled back on
  any exception. Sessions opened inside a session join it;
* opening a DuckDB file costs ~6 ms and closing a written one ~10 ms (it
  checkpoints), more than a whole search or agent step. So a process keeps its
  last connection, with its lock, and a watcher thread drops it after
  `IDLE` seconds, or within ~2 ms of another process queueing for the file:
  a writer queues at the turnstile, and every waiter also holds a shared lock
  on ``<db>.lock.waiters``, which the holder of a cached write connection tests.
  A kept write connection commits each transaction to DuckDB's WAL as usual.
* while a connection is kept, no other process can write the file (a writer
  needs the exclusive lock), so ``memo`` may remember facts read from it
  (the next message seq) across sessions; it is emptied whenever the kept
  connection is dropped, including after a failed transaction. A write session's statements
  go through `_WatchedWrites`, which tells the memo the tables they write.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memos.errors import DatabaseBusy, StorageProblem
from memos.store.sessions import ActiveSession, ConnectionMemo, ThreadSessions, lock_timeout_from_env

IDLE = 0.25  # seconds a cached connection may sit unused (a server keeps it longer: Connections.idle)
WATCH_INTERVAL = 0.002
# Past this long since its last session, the watcher looks every QUIET_WATCH_INTERVAL: a server
# keeps its connection 10 s, and looking every 2 ms cost 2.4% of a core doing nothing; another
# process then waits at most ~20 ms more for the file.
QUIET_AFTER = 0.1
QUIET_WATCH_INTERVAL = 0.02


class _Backoff:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.delay = 0.001

    def wait(self) -> bool:
        """Sleep a little; False once the deadline has passed."""
        now = time.monotonic()
        if now >= self.deadline:
            return False
        time.sleep(min(self.delay * (0.5 + random.random()), max(0.0, self.deadline - now)))
        # A short cap: the lock is usually free again within a few ms, and a
        # sleeping waiter would leave it idle.
        self.delay = min(self.delay * 1.5, 0.01)
        return True


def _read_only(exc: OSError) -> bool:
    return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)


def _lock_file(path: Path) -> int | None:
    """A lock file to flock (a read-only descriptor does for flock); None where it does not
    exist and cannot be made."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        if not _read_only(exc):
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def _is_lock_conflict(exc: Exception) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflict" in text or "could not set" in text or "locked" in text)


class _NeedsRecovery(Exception):
    """A read-only open met a WAL it cannot replay."""


class _WatchedWrites:
    """A write session's connection: each statement first tells the memo which table it writes,
    so reads remembered from that table are read again (``ConnectionMemo.wrote``)."""

    __slots__ = ("_con", "_memo")

    def __init__(self, con: Any, memo: ConnectionMemo) -> None:
        self._con = con
        self._memo = memo

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._memo.wrote(sql)
        return self._con.execute(sql, *args, **kwargs)

    def executemany(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self._memo.wrote(sql)
        return self._con.executemany(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def unwrapped(con: Any, sql: str) -> Any:
    """The DuckDB connection itself, for ``sql`` (the memo told first, as `_WatchedWrites` would):
    DuckDB's replacement scan finds a Python variable by its name only in the frame that calls
    execute, which must be the caller's, not the wrapper's."""
    if isinstance(con, _WatchedWrites):
        con._memo.wrote(sql)
        return con._con
    return con


class Connections(ThreadSessions):
    """Sessions on one DuckDB file."""

    def __init__(self, path: Path, *, timeout: float | None = None,
                 configure: Callable[[Any], None] | None = None) -> None:
        super().__init__()
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.turnstile_path = path.with_name(path.name + ".lock.turnstile")
        self.waiters_path = path.with_name(path.name + ".lock.waiters")
        self.timeout = lock_timeout_from_env() if timeout is None else timeout
        self._configure = configure
        self._thread_lock = threading.RLock()
        self._lock_fd: int | None = None
        self._turnstile_fd: int | None = None
        self._waiters_fd: int | None = None
        self._cached: Any | None = None  # the connection kept between sessions
        self._cached_write = False
        self._cached_at = 0.0
        self.idle = IDLE  # seconds the kept connection may sit unused before it is let go
        self._watcher: threading.Thread | None = None
        self._has_cached = threading.Event()  # set and cleared only under _thread_lock
        self.memo = ConnectionMemo()  # facts valid while the kept connection lives (see the module doc)
        # Close (and so checkpoint) a kept connection when the process ends normally.
        atexit.register(self.close)

    # -- public ----------------------------------------------------------------
    @contextmanager
    def session(self, *, write: bool) -> Iterator[Any]:
        joined = self.joined(write)
        if joined is not None:
            yield joined
            return
        after_commit: list[Callable[[], object]] = []
        with self._thread_lock:
            if self._cached is not None and (self._cached_write or not write):
                con = self._cached  # a kept connection that can do this work
            else:
                self._drop_cached()  # a read-only connection cannot write
                con, opened_for_write = self._lock_and_open(write)
                self._cached, self._cached_write = con, opened_for_write
            session_con = _WatchedWrites(con, self.memo) if write else con
            self.active = ActiveSession(session_con, write, after_commit)
            try:
                if write:
                    con.execute("BEGIN TRANSACTION")
                yield session_con
                if write:
                    con.execute("COMMIT")
            except BaseException:
                if write:
                    try:
                        con.execute("ROLLBACK")
                    except Exception:
                        pass  # the transaction may already be aborted
                # After a failure, start from a fresh connection next time.
                self.active = None
                self._drop_cached()
                raise
            finally:
                self.active = None
            self._cached_at = time.monotonic()
            self._has_cached.set()
            self._start_watcher()
        for hook in after_commit:
            hook()

    def _lock_and_open(self, write: bool) -> tuple[Any, bool]:
        """Lock and open; returns the connection and whether it is read-write."""
        self._flock(write)
        try:
            return self._open(write), write
        except _NeedsRecovery:
            # A WAL left by a process that died holding the file: DuckDB replays it only on a
            # read-write open, so take the file exclusively and let it recover.
            self._unflock()
        except BaseException:
            self._unflock()
            raise
        self._flock(True)
        try:
            return self._open(True), True
        except BaseException:
            self._unflock()
            raise

    # -- the kept connection -----------------------------------------------------------
    def _drop_cached(self) -> None:
        """Close the cached connection (caller holds _thread_lock)."""
        self._has_cached.clear()
        self.memo.clear()
        if self._cached is not None:
            try:
                self._cached.close()
            finally:
                self._cached = None
                self._unflock()

    def _someone_waiting(self) -> bool:
        """Another process queues for the file: a writer (turnstile) or, when we hold it
        exclusively, anyone (waiters lock)."""
        fds = self._fds()
        if fds is None:
            return False  # a read-only home: nobody can be waiting to write
        _, turnstile_fd, waiters_fd = fds
        fd, mode = (waiters_fd, fcntl.LOCK_EX) if self._cached_write else (turnstile_fd, fcntl.LOCK_SH)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False

    def _start_watcher(self) -> None:
        # One watcher per Connections, for the life of the process. (A watcher that exited
        # when idle raced with a new cache being made and could leave a lock held forever.)
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="memos-db-watch", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while True:
            self._has_cached.wait()
            quiet = time.monotonic() - self._cached_at > QUIET_AFTER
            time.sleep(QUIET_WATCH_INTERVAL if quiet else WATCH_INTERVAL)
            if not self._thread_lock.acquire(blocking=False):
                continue  # a session is running; look again shortly
            try:
                if self._cached is None:
                    self._has_cached.clear()
                elif time.monotonic() - self._cached_at > self.idle or self._someone_waiting():
                    self._drop_cached()
            finally:
                self._thread_lock.release()

    def checkpoint(self) -> None:
        """Write everything in the WAL into the database file."""
        with self._thread_lock:
            if self._cached is None or not self._cached_write:
                self._drop_cached()
                con, _ = self._lock_and_open(True)
                self._cached, self._cached_write = con, True
                self._cached_at = time.monotonic()
                self._has_cached.set()
                self._start_watcher()
            self._cached.execute("CHECKPOINT")

    # -- internals -------------------------------------------------------------
    def _busy(self) -> DatabaseBusy:
        return DatabaseBusy(
            f"the database {self.path} stayed locked by another process for {self.timeout:g}s",
            "wait for the other memos command to finish, or raise MEMOS_LOCK_TIMEOUT",
        )

    def _fds(self) -> tuple[int, int, int] | None:
        """The three lock files' descriptors; None in a home that is read-only (a read-only
        mount, a snapshot) and never had them: nothing can write there, so reads need no lock."""
        if self._lock_fd is None or self._turnstile_fd is None or self._waiters_fd is None:
            try:
                self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if not _read_only(exc):
                    raise
            opened = [_lock_file(path) for path in (self.lock_path, self.turnstile_path, self.waiters_path)]
            fds = [fd for fd in opened if fd is not None]
            if len(fds) < len(opened):
                for fd in fds:
                    os.close(fd)
                return None
            self._lock_fd, self._turnstile_fd, self._waiters_fd = fds
            return fds[0], fds[1], fds[2]
        return self._lock_fd, self._turnstile_fd, self._waiters_fd

    def _take(self, fd: int, mode: int, backoff: _Backoff) -> None:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if not backoff.wait():
                    raise self._busy() from None

    def _flock(self, write: bool) -> None:
        fds = self._fds()
        if fds is None:
            if write:
                raise StorageProblem(f"memos's home {self.path.parent} is read-only: it can be read, not changed",
                                     "make it writable, or point MEMOS_HOME at a writable copy")
            return
        lock_fd, turnstile_fd, waiters_fd = fds
        backoff = _Backoff(time.monotonic() + self.timeout)
        # Announce that we wait, so a process keeping the file lets go of it.
        self._take(waiters_fd, fcntl.LOCK_SH, backoff)
        try:
            # Writers hold the turnstile while they wait; readers pass through it.
            self._take(turnstile_fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH, backoff)
            try:
                self._take(lock_fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH, backoff)
            finally:
                fcntl.flock(turnstile_fd, fcntl.LOCK_UN)
        finally:
            fcntl.flock(waiters_fd, fcntl.LOCK_UN)

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
            except Exception as exc:  # InternalException is not a duckdb.Error
                if not write and "replaying wal" in str(exc).lower():
                    raise _NeedsRecovery() from None
                if not isinstance(exc, (duckdb.IOException, duckdb.ConnectionException)):
                    raise
                # Another program (not memos) holds DuckDB's own lock: wait for it too.
                if not _is_lock_conflict(exc) or not backoff.wait():
                    if _is_lock_conflict(exc):
                        raise self._busy() from None
                    raise
        if self._configure is not None:
            self._configure(con)
        return con

    def close(self) -> None:
        with self._thread_lock:
            self._drop_cached()
        for name in ("_lock_fd", "_turnstile_fd", "_waiters_fd"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
