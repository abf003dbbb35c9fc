"""Persistence. One `Store` interface (base.py), backends below it. Never imports memos.core."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memos.store.base import Store


def open_store(database: Path, *, url: str | None = None, lock_timeout: float | None = None) -> Store:
    """Open (creating and migrating if needed) the store: PostgreSQL at ``url`` when one is
    given, else the DuckDB file at ``database``."""
    if url:
        from memos.store.postgres.store import PostgresStore

        return PostgresStore(url, lock_timeout=lock_timeout)
    from memos.store.duckdb.store import DuckDBStore

    return DuckDBStore(database, lock_timeout=lock_timeout)
