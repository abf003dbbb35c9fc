"""The entry point every front end uses: home, config and store, opened lazily."""

from __future__ import annotations

import os
from functools import cached_property

from memos.core.config import ClusterSettings, Config
from memos.core.home import Home, memos_home
from memos.errors import InvalidInput, NotFound
from memos.store import remote_embedders
from memos.store.base import Agent, Store


class Workspace:
    def __init__(self, home: Home | None = None) -> None:
        self.home = (home or memos_home()).ensure()
        remote_embedders.register(self._remote_embedder)

    @cached_property
    def config(self) -> Config:
        return Config(self.home.config_file, cluster=self._cluster_settings)

    def _remote_embedder(self, name: str) -> object:
        """Embedding models other than the bundled one resolve their base URL and key through
        this workspace's config, as chat models do (core.embedding)."""
        from memos.core.embedding import remote_embedder

        return remote_embedder(self.config, name)

    def _cluster_settings(self) -> ClusterSettings | None:
        """The store, where several machines share it and so keep their settings in it; a DuckDB
        home's settings are its config.toml (and this opens no store to say so)."""
        if not self.database_url:
            return None
        return self.store if self.store.cluster else None

    @cached_property
    def database_url(self) -> str | None:
        """The PostgreSQL database to use, if any: MEMOS_DATABASE_URL, then `database_url` in config.
        Without one, the DuckDB file in the home directory."""
        return os.environ.get("MEMOS_DATABASE_URL") or self.config.get("database_url")

    @cached_property
    def store(self) -> Store:
        from memos.store import open_store

        url = self.database_url
        if url:
            check_database_url(url)
        return open_store(self.home.database, url=url)

    def resolve_agent(self, name: str | None = None) -> Agent:
        """The agent to act on: explicit name, then MEMOS_AGENT, then config, then the only one."""
        chosen = name or os.environ.get("MEMOS_AGENT") or self.config.get("default_agent")
        if chosen:
            return self.store.get_agent(chosen)
        agents = self.store.list_agents()
        if len(agents) == 1:
            return agents[0]
        if not agents:
            raise NotFound("there are no agents yet", "create one with `memos agents create NAME`")
        names = ", ".join(a.name for a in agents)
        raise InvalidInput(f"several agents exist ({names}) and none was chosen",
                           "pass --agent NAME, set MEMOS_AGENT, or run `memos agents use NAME`")

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()


def check_database_url(url: str) -> str:
    from memos.store.postgres.store import is_postgres_url

    if not is_postgres_url(url):
        raise InvalidInput(f"'{url.split('@')[-1]}' is not a PostgreSQL URL",
                           "use postgresql://user:password@host:port/database, or unset MEMOS_DATABASE_URL "
                           "to use the DuckDB file")
    return url


MAX_AGENT_NAME = 255  # Letta's column


def check_agent_name(name: str) -> str:
    """The one rule for an agent's name, however it comes in (CLI, API, agent files, rename):
    printable text as Letta takes it, spaces included, that could never be read as a path.
    (An agent's directory is named after its id, so a name never reaches the file system;
    this keeps it so should anything ever build a path from one.)"""
    printable = all(ord(c) >= 32 and ord(c) != 127 and not 0xD800 <= ord(c) <= 0xDFFF for c in name)
    if (not name.strip() or len(name) > MAX_AGENT_NAME or not printable or "/" in name or "\\" in name
            or name.strip() in {".", ".."}):
        raise InvalidInput(
            f"{name!r} is not a valid agent name",
            f"use 1-{MAX_AGENT_NAME} printable characters, without '/' or a backslash, and not '.' or '..'",
        )
    return name
