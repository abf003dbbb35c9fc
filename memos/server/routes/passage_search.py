"""Letta's /v1/passages/search: archival memory searched across agents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from memos.core import archival
from memos.core.timeparse import iso_bound
from memos.errors import InvalidInput, NotFound
from memos.server import shapes
from memos.server.deps import WS
from memos.server.schemas import PassageSearch
from memos.store.base import PassageQuery

router = APIRouter(prefix="/v1/passages", tags=["archival memory"])


@router.post("/search")
def search_passages(ws: WS, body: PassageSearch) -> list[dict[str, Any]]:
    """Every agent's passages (or one agent's: ``agent_id``) ranked by meaning and words, each
    agent's with its own embedding model; best first, with the score."""
    if body.archive_id and not body.agent_id:
        raise NotFound(f"no archive '{body.archive_id}': memos keeps no archives shared between agents",
                       "search one agent's passages with agent_id, or leave both out to search every agent's")
    if not (body.query or "").strip():
        raise InvalidInput("the search query is empty", "give some words to search for")
    agents = [ws.store.get_agent(body.agent_id)] if body.agent_id else ws.store.list_agents()
    query = PassageQuery(text=body.query, mode="hybrid", tags=tuple(body.tags or ()), tag_match=body.tag_match_mode,
                         start=iso_bound(body.start_date, "start_date"),
                         end=iso_bound(body.end_date, "end_date", end=True), top_k=body.limit)
    return [{"passage": shapes.passage(hit.passage, agent.embedding_model), "score": hit.score, "metadata": {}}
            for agent, hit in archival.search_agents(ws.store, agents, query)]
