"""Turn locks: one turn of an agent at a time, across every process that shares the store.

A turn (a user message and the steps that answer it) reads the conversation,
calls the LLM and writes its answer; two turns of one agent that overlap would
each see the other's unanswered message. Front ends take the agent's turn lock
for the whole turn (core/turns.py). The lock lives as long as the process holds
it: a killed process lets go at once, and the next holder recovers what it left.

DuckDB: an ``flock`` on a file beside the database, holding the owner's pid.
PostgreSQL: a session-level advisory lock on a connection of its own, whose
``application_name`` names the owner's pid (so CLI and server on different
machines exclude each other too).
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
    """An exclusive flock on ``path``; the file holds the holder's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
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
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (computed here so holder() can find it in pg_locks)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class AdvisoryTurnLock:
    """A PostgreSQL session advisory lock held on a connection opened for it."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.key = _advisory_key(name)
        self._con: Any | None = None

    def _connect(self, label: str) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, application_name=label[:63])

    def try_acquire(self) -> bool:
        import socket

        con = self._connect(f"memos turn pid {os.getpid()} on {socket.gethostname()}")
        try:
            got = con.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()[0]
        except BaseException:
            con.close()
            raise
        if not got:
            con.close()
            return False
        self._con = con
        return True

    def holder(self) -> str | None:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        with self._connect("memos turn probe") as con:
            row = con.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                "AND l.classid = %s::bigint AND l.objid = %s::bigint",
                [unsigned >> 32, unsigned & 0xFFFFFFFF]).fetchone()
        if not row or not row[0]:
            return None
        return row[0].removeprefix("memos turn ")

    def release(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            try:
                con.execute("SELECT pg_advisory_unlock(%s)", [self.key])
            finally:
                con.close()
