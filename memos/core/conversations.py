"""Which conversation a front end's turn goes to: the agent's own, or one named by the user."""

from __future__ import annotations

from memos.errors import NotFound
from memos.store import ids
from memos.store.base import Agent, Conversation, Store

DEFAULT = "default"  # the agent's own conversation, as Letta names it


def open_conversation(store: Store, agent: Agent, name_or_id: str | None,
                      *, create: bool = True) -> tuple[Conversation | None, bool]:
    """The agent's conversation called ``name_or_id`` (None or "default": its own, as None), and
    whether it was created just now: a name not used yet starts a conversation, as `tmux new -A`
    does, so `memos send -c ticket-42` needs no setup. An id that does not exist is an error."""
    if name_or_id is None or name_or_id == DEFAULT:
        return None, False
    try:
        return store.find_conversation(agent.id, name_or_id), False
    except NotFound:
        if not create or ids.looks_like("conv", name_or_id):
            raise
    return store.create_conversation(agent.id, name=name_or_id), True
