"""Which database memos uses, and moving a DuckDB store into PostgreSQL (`memos db`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from memos.core.home import Home
from memos.core.workspace import Workspace, check_database_url
from memos.errors import InvalidInput, NotFound
from memos.store.base import Store


def database_info(ws: Workspace) -> dict[str, Any]:
    """Backend, location, schema version and how much is stored."""
    store = ws.store
    applied = store.schema_version()
    agents = store.list_agents()
    counts = [store.agent_counts(agent.id) for agent in agents]
    return {
        **store.backend_details(),
        "selected_by": ("MEMOS_DATABASE_URL" if _from_env() else "config database_url") if ws.database_url
        else "default (no MEMOS_DATABASE_URL or database_url)",
        "schema_version": applied[-1] if applied else None,
        "migrations": applied,
        "agents": len(agents),
        "messages": sum(c.messages for c in counts),
        "passages": sum(c.passages for c in counts),
    }


def _from_env() -> bool:
    import os

    return bool(os.environ.get("MEMOS_DATABASE_URL"))


def migrate_to(ws: Workspace, url: str, *, source: Path | None = None,
               progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Copy the DuckDB store (the home's, or ``source``) into the PostgreSQL database at ``url``."""
    from memos.store.duckdb.store import DuckDBStore
    from memos.store.postgres.store import PostgresStore
    from memos.store.transfer import migrate_to_postgres

    check_database_url(url)
    path = (source or ws.home.database).expanduser()
    if not path.is_file():
        raise NotFound(f"there is no DuckDB store at {path}", "pass --from PATH to the memos.duckdb to copy")
    duck = DuckDBStore(path)
    try:
        target = PostgresStore(url)
        try:
            if ws.database_url == url and source is None:
                raise InvalidInput("the target is the database memos already uses", "give another URL")
            report = migrate_to_postgres(duck, target, progress).to_dict()
            report["tool_repos"] = _publish_tool_repos(target, Home(path.parent) if source else ws.home, progress)
            return report
        finally:
            target.close()
    finally:
        duck.close()


def _publish_tool_repos(target: Store, home: Home, progress: Callable[[str], None]) -> int:
    """Each agent's tool repo goes into the database with its rows: there, every replica reads
    tool code from the store (tools/shared_code.py), and this home may not be one of them."""
    from memos.tools.shared_code import publish_repo

    published = 0
    for agent in target.list_agents():
        if publish_repo(target, agent, home.tools_dir_of(agent)):
            published += 1
    if published:
        progress(f"published the tool repos of {published} agent(s)")
    return published
