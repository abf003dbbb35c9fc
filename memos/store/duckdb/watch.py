"""Noticing writes by other processes without querying: the database file and its WAL change
size or mtime on every commit, so a stat of both every second is enough."""

from __future__ import annotations

import os
from pathlib import Path


def file_stamp(database: Path) -> tuple[tuple[int, int], ...]:
    stamps = []
    for path in (database, database.with_name(database.name + ".wal")):
        try:
            info = os.stat(path)
            stamps.append((info.st_mtime_ns, info.st_size))
        except FileNotFoundError:
            stamps.append((0, 0))
    return tuple(stamps)
