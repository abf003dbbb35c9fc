"""Named exclusive locks across every process that uses one store (`Store.cluster_lock`).

What must happen once at a time for the whole installation (a sleep pass per agent, deciding a
canary, changing an agent's tool code) takes one of these. DuckDB: an ``flock`` on a file beside
the database (one machine). PostgreSQL: a session advisory lock on a connection of its own, so
replicas on other machines exclude each other too; the server lets go when the holder's session
ends, and TCP keepalives end the session of a machine that vanished.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memos.errors import DatabaseBusy

POLL_SECONDS = 0.05


def _busy(name: str, timeout: float) -> DatabaseBusy:
    return DatabaseBusy(f"another process has held '{name}' for {timeout:g}s", "try again when it has finished")


@contextmanager
def file_lock(path: Path, name: str, timeout: float) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(name, timeout) from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing lets go of the flock


def lock_file_name(name: str) -> str:
    """A file name for ``name`` (names hold ':' and ids; the digest keeps them apart)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    return f"{safe}.{hashlib.sha256(name.encode()).hexdigest()[:12]}.lock"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"memos:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(url: str, name: str, timeout: float) -> Iterator[None]:
    import socket

    from memos.store.postgres.connection import connect

    key = advisory_key(name)
    con = connect(url, f"memos lock pid {os.getpid()} on {socket.gethostname()}")
    try:
        deadline = time.monotonic() + timeout
        while not con.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise _busy(name, timeout)
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            try:
                con.execute("SELECT pg_advisory_unlock(%s)", [key])
            except Exception:  # noqa: BLE001 - a broken session: the server dropped the lock with it
                pass
    finally:
        con.close()
