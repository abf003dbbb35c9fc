"""The entry point every front end uses: home, config and store, opened lazily."""

from __future__ import annotations

import os
import re
from functools import cached_property

from memos.core.config import Config
from memos.core.home import Home, memos_home
from memos.errors import InvalidInput, NotFound
from memos.store.base import Agent, Store


class Workspace:
    def __init__(self, home: Home | None = None) -> None:
        self.home = (home or memos_home()).ensure()

    @cached_property
    def config(self) -> Config:
        return Config(self.home.config_file)

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


AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_agent_name(name: str) -> str:
    if not AGENT_NAME.match(name):
        raise InvalidInput(
            f"'{name}' is not a valid agent name",
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name
