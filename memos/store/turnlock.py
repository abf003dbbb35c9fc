"""Turn locks: one turn of an agent at a time, across every process that shares the store.

A turn (a user message and the steps that answer it) reads the conversation,
calls the LLM and writes its answer; two turns of one agent that overlap would
each see the other's unanswered message. Front ends take the agent's turn lock
for the whole turn (core/turns.py). The lock lives as long as the process holds
it: a killed process lets go at once, and the next holder recovers what it left.

DuckDB: an ``flock`` on a file beside the database, holding the owner's pid.
PostgreSQL: a session-level advisory lock on a connection of its own, whose
``application_name`` names the owner (so CLI and server on different machines
exclude each other too), plus a lease: a row renewed by a heartbeat, with a
fencing token. A holder that dies lets go at once (its session ends); one that
hangs (SIGSTOP, a frozen VM) stops renewing, and once its lease has lapsed the
next holder ends the hung process's sessions and takes the turn with a new
token. Whatever the stale holder writes for the turn afterwards is refused
(`fence`, checked inside each of the turn's write transactions). Both are fair:
whoever waits goes before a newcomer.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Protocol


class TurnLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another holder has it."""

    def holder(self) -> str | None:
        """Who holds it now ('pid 123' or 'pid 123 on host'), when that can be told."""

    def fence(self) -> None:
        """Inside a write transaction of the turn: raise `TurnLost` if the turn is no longer ours."""

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

    def fence(self) -> None:
        """Nothing to check: an flock is held until its process lets go or dies."""

    def release(self) -> None:
        self._leave_line()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
