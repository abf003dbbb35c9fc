"""Where memos keeps its state: ``$MEMOS_HOME`` (default ``~/.memos``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memos.paths import home_root

if TYPE_CHECKING:
    from memos.store.base import Agent


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

    def agent_dir(self, name: str) -> Path:
        return self.agents_dir / name

    def agent_tools_dir(self, name: str) -> Path:
        """The agent's tool repo (a git repository of its custom tools)."""
        return self.agent_dir(name) / "tools"

    def dir_of(self, agent: Agent) -> Path:
        """The agent's directory: ``agents/<name>``, or ``agents/<id>`` for an agent whose name
        cannot name a directory of its own (a name shared with another agent, or not a plain
        name: Letta's clients may give either), which gets that directory when it is created."""
        by_id = self.agents_dir / agent.id
        return by_id if by_id.exists() else self.agents_dir / agent.name

    def tools_dir_of(self, agent: Agent) -> Path:
        return self.dir_of(agent) / "tools"

    def ensure(self) -> Home:
        """Create the home layout on first use (idempotent)."""
        for path in (self.root, self.agents_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def memos_home() -> Home:
    return Home(home_root())
