"""Turn locks: one turn of an agent at a time, across every process that shares the store.

A turn (a user message and the steps that answer it) reads the conversation,
calls the LLM and writes its answer; two turns of one agent that overlap would
each see the other's unanswered message. Front ends take the agent's turn lock
for the whole turn (core/turns.py). The lock lives as long as the process holds
it: a killed process lets go at once, and the next holder recovers what it left.

DuckDB: an ``flock`` on a file beside the database, holding the owner's pid.
PostgreSQL: a session-level advisory lock on a connection of its own, whose
``application_name`` names the owner's pid (so CLI and server on different
machines exclude each other too). Both are fair: whoever waits goes before a newcomer.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, Protocol


class TurnLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another holder has it."""

    def holder(self) -> str | None:
        """Who holds it now ('pid 123' or 'pid 123 on host'), when that can be told."""

    def release(self) -> None: ...


class FileTurnLock:
    """An exclusive flock on ``path``; the file holds the holder's pid.

    Fair enough for pipelines: a process that waits holds a shared lock on ``path.waiting``,
    and a newcomer that finds anyone waiting waits too instead of taking the lock first. So
    a loop that ends a turn and starts the next at once cannot starve the others."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.waiting_path = path.with_name(path.name + ".waiting")
        self._fd: int | None = None
        self._waiting_fd: int | None = None

    def _open(self, path: Path) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def _others_waiting(self) -> bool:
        fd = self._open(self.waiting_path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops the probe's lock
        return False

    def _wait_in_line(self) -> None:
        if self._waiting_fd is None:
            self._waiting_fd = self._open(self.waiting_path)
            fcntl.flock(self._waiting_fd, fcntl.LOCK_SH)

    def _leave_line(self) -> None:
        if self._waiting_fd is not None:
            fd, self._waiting_fd = self._waiting_fd, None
            os.close(fd)

    def try_acquire(self) -> bool:
        if self._waiting_fd is None and self._others_waiting():
            self._wait_in_line()  # others were first
            return False
        fd = self._open(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self._wait_in_line()
            return False
        self._leave_line()
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return True

    def holder(self) -> str | None:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            return None
        return f"pid {pid}" if pid else None

    def release(self) -> None:
        self._leave_line()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (computed here so holder() can find it in pg_locks)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class AdvisoryTurnLock:
    """A PostgreSQL session advisory lock, held on a connection of its own.

    Fair in the same way as `FileTurnLock`: a waiter holds a shared advisory lock on a second
    key, and a newcomer that finds it held waits too instead of taking the turn first. The
    connection lives from the first try to `release`; closing it lets go of both locks, and
    so does the server when the process dies."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.key = _advisory_key(name)
        self.waiting_key = _advisory_key(name + ":waiting")
        self._con: Any | None = None
        self._in_line = False

    def _connect(self, label: str) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, application_name=label[:63])

    def _session(self) -> Any:
        if self._con is None:
            import socket

            self._con = self._connect(f"memos turn pid {os.getpid()} on {socket.gethostname()}")
        return self._con

    def _others_waiting(self, con: Any) -> bool:
        if con.execute("SELECT pg_try_advisory_lock(%s)", [self.waiting_key]).fetchone()[0]:
            con.execute("SELECT pg_advisory_unlock(%s)", [self.waiting_key])
            return False
        return True

    def _wait_in_line(self, con: Any) -> None:
        if not self._in_line:
            # Blocks only while a newcomer's probe holds the key exclusively, for microseconds.
            con.execute("SELECT pg_advisory_lock_shared(%s)", [self.waiting_key])
            self._in_line = True

    def try_acquire(self) -> bool:
        con = self._session()
        try:
            if not self._in_line and self._others_waiting(con):
                self._wait_in_line(con)  # others were first
                return False
            if not con.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()[0]:
                self._wait_in_line(con)
                return False
            if self._in_line:
                con.execute("SELECT pg_advisory_unlock_shared(%s)", [self.waiting_key])
                self._in_line = False
            return True
        except BaseException:
            self.release()
            raise

    def holder(self) -> str | None:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        with self._connect("memos turn probe") as con:
            row = con.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' AND l.objsubid = 1 "
                "AND l.classid = %s::bigint AND l.objid = %s::bigint",
                [unsigned >> 32, unsigned & 0xFFFFFFFF]).fetchone()
        if not row or not row[0]:
            return None
        return str(row[0]).removeprefix("memos turn ")

    def release(self) -> None:
        """Give the turn back, or leave the line, at once; then close the session."""
        self._in_line = False
        if self._con is not None:
            con, self._con = self._con, None
            try:
                # Closing alone lets go only when the server's backend exits, a moment after
                # close() returns; a turn handed over must be free when release() returns.
                con.execute("SELECT pg_advisory_unlock_all()")
            except Exception:  # a broken session: the server drops its locks with it
                pass
            finally:
                con.close()
