"""Named exclusive locks across machines: a PostgreSQL session advisory lock on a connection of
its own (the store's `cluster_lock`; memos/store/clusterlock.py says what takes them)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

from memos.store.clusterlock import POLL_SECONDS, busy
from memos.store.postgres.connection import connect


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"memos:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(url: str, name: str, timeout: float) -> Iterator[None]:
    key = advisory_key(name)
    con = connect(url, "lock")
    try:
        deadline = time.monotonic() + timeout
        while not con.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
            if time.monotonic() >= deadline:
                raise busy(name, timeout)
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
