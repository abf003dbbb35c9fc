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


def busy(name: str, timeout: float) -> DatabaseBusy:
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
                    raise busy(name, timeout) from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing lets go of the flock


def lock_file_name(name: str) -> str:
    """A file name for ``name`` (names hold ':' and ids; the digest keeps them apart)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
    return f"{safe}.{hashlib.sha256(name.encode()).hexdigest()[:12]}.lock"
