"""Numbered, append-only migrations, applied in a transaction each and recorded.

A migration is ``NNNN_name.<dialect>.sql`` or ``NNNN_name.py`` (with
``upgrade(con, dialect)``). Never edit one that has shipped: add the next.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

_NAME = re.compile(r"^(\d{4}_[a-z0-9_]+)(?:\.([a-z]+))?\.(sql|py)$")


@dataclass(frozen=True)
class Migration:
    id: str
    apply: Callable[[Any], None]


def _load_python(path: Any, dialect: str) -> Callable[[Any], None]:
    spec = importlib.util.spec_from_file_location(f"memos_migration_{path.name[:-3]}", str(path))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda con: module.upgrade(con, dialect)


def _sql_runner(sql: str) -> Callable[[Any], None]:
    def run(con: Any) -> None:
        con.execute(sql)

    return run


def migrations_for(dialect: str) -> list[Migration]:
    """All migrations for a dialect, in order."""
    found: dict[str, Migration] = {}
    for entry in files(__name__).iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        mig_id, file_dialect, kind = match.groups()
        if kind == "sql" and file_dialect == dialect:
            found[mig_id] = Migration(mig_id, _sql_runner(entry.read_text(encoding="utf-8")))
        elif kind == "py" and file_dialect is None:
            found[mig_id] = Migration(mig_id, _load_python(entry, dialect))
    return [found[key] for key in sorted(found)]
