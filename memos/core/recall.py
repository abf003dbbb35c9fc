"""Searching what was said to several agents at once (their message logs, not archival memory)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from memos.store.base import Agent, Message, Store
from memos.store.search import reciprocal_rank


@dataclass(frozen=True)
class FoundMessage:
    """A message one log's search found: its rank there and its fused score across logs."""

    message: Message
    rank: int  # 1 = the best match in its own agent's log
    score: float  # reciprocal rank: comparable across logs


def search_logs(store: Store, agents: Sequence[Agent], query: str, *, start: datetime | None = None,
                end: datetime | None = None, conversation: str | None = None, roles: Sequence[str] = (),
                limit: int = 50) -> list[FoundMessage]:
    """The messages of these agents that match ``query`` best, best first.

    Each log is searched on its own (store.search_messages: BM25 over the words, each weighted
    by how rare it is in that agent's log) and the lists are merged by reciprocal rank, since
    BM25 scores of different logs are not on one scale; among equal ranks, the newer first.
    ``conversation`` keeps the messages of that conversation only."""
    scored: list[FoundMessage] = []
    depth = limit * 4 if conversation else limit  # room for the conversation filter
    for agent in agents:
        found = store.search_messages(agent.id, query, roles=roles, start=start, end=end, limit=depth)
        kept = [m for m in found if conversation is None or m.conversation_id == conversation]
        scored += [FoundMessage(message, rank, reciprocal_rank(rank)) for rank, message in enumerate(kept, 1)]
    scored.sort(key=lambda item: (-item.score, -item.message.created_at.timestamp()))
    return scored[:limit]
