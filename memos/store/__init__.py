"""Persistence. One `Store` interface (base.py), backends below it. Never imports memos.core."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memos.store.base import Store


def open_store(database: Path, *, lock_timeout: float | None = None) -> "Store":
    """Open (creating and migrating if needed) the DuckDB store at ``database``."""
    from memos.store.duckdb.store import DuckDBStore

    return DuckDBStore(database, lock_timeout=lock_timeout)
