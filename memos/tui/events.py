"""App-level messages between widgets."""

from __future__ import annotations

from textual.message import Message


class AgentSelected(Message):
    """The agent every pane shows changed."""

    def __init__(self, agent_id: str) -> None:
        super().__init__()
        self.agent_id = agent_id


class StoreChanged(Message):
    """Another process (or this one) wrote to the database: panes re-read what they show."""
