"""Where memos keeps its state: ``$MEMOS_HOME`` (default ``~/.memos``)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memos.paths import home_root

if TYPE_CHECKING:
    from memos.store.base import Agent


# How older memos named an agent's directory; and what every agent id looks like.
LEGACY_DIR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
AGENT_ID = re.compile(r"^agent-[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


def _checked_id(agent_id: str) -> str:
    if not AGENT_ID.match(agent_id):
        from memos.errors import InvalidInput

        raise InvalidInput(f"{agent_id!r} is not an agent id", "agent ids look like agent-<uuid>")
    return agent_id


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "memos.duckdb"

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    @property
    def agents_dir(self) -> Path:
        return self.root / "agents"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def dir_of(self, agent: Agent) -> Path:
        """The agent's directory, ``agents/<id>``: derived from its id only, so no name (Letta's
        clients may send any text, ``..`` included) ever reaches the file system. A directory an
        older memos named after the agent is moved to its id the first time it is asked for."""
        by_id = self.agents_dir / _checked_id(agent.id)
        if not by_id.exists():
            self._adopt_named_dir(agent, by_id)
        return by_id

    def new_dir_of(self, agent: Agent) -> Path:
        """Where a just-created agent's files go (never an older agent's directory of its name)."""
        return self.agents_dir / _checked_id(agent.id)

    def tools_dir_of(self, agent: Agent) -> Path:
        return self.dir_of(agent) / "tools"

    def _adopt_named_dir(self, agent: Agent, by_id: Path) -> None:
        # Older homes kept agents/<name> for an agent whose plain name was its own when it was
        # made; an agent without a directory of its id is that directory's owner.
        if not LEGACY_DIR_NAME.match(agent.name) or agent.name.startswith("agent-"):
            return
        named = self.agents_dir / agent.name
        if named.is_symlink() or not (named / "tools" / ".git").is_dir():
            return
        try:
            named.rename(by_id)
        except OSError:
            pass  # another process moved it first, or it is in use: the next call looks again

    def remove_agent_dir(self, path: Path) -> None:
        """Delete an agent's directory, and nothing else: a path that is not strictly inside
        ``agents/`` (through ``..``, a link, or the directory itself) is refused."""
        root = self.agents_dir.resolve()
        target = path.resolve()
        if path.is_symlink() or target == root or root not in target.parents:
            from memos.errors import InvalidInput

            raise InvalidInput(f"refused to delete {path}: it is not an agent's directory inside {root}",
                               "nothing was deleted; remove it by hand if it should go")
        shutil.rmtree(target, ignore_errors=True)

    def ensure(self) -> Home:
        """Create the home layout on first use (idempotent)."""
        for path in (self.root, self.agents_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def memos_home() -> Home:
    return Home(home_root())
