"""`memos tui`: the Textual front end."""

from __future__ import annotations

from memos.cli.common import AgentOpt


def tui(agent: AgentOpt = None) -> None:
    """Browse and edit agents, memory, archival memory, the conversation and evolutions."""
    from memos.tui.app import MemosApp

    MemosApp(agent=agent).run()
