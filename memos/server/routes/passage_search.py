"""Letta's /v1/passages/search: archival memory searched across agents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from memos.core import archival
from memos.core.timeparse import iso_bound
from memos.errors import InvalidInput
from memos.server import shapes
from memos.server.deps import WS
from memos.server.schemas import PassageSearch
from memos.store.base import PassageQuery

if TYPE_CHECKING:
    from memos.core.archival import PassageOwner

router = APIRouter(prefix="/v1/passages", tags=["archival memory"])


@router.post("/search")
def search_passages(ws: WS, body: PassageSearch) -> list[dict[str, Any]]:
    """Every agent's and archive's passages (or one agent's with its archives: ``agent_id``; or
    one archive's: ``archive_id``) ranked by meaning and words, each with its own embedding
    model; best first, with the score."""
    if not (body.query or "").strip():
        raise InvalidInput("the search query is empty", "give some words to search for")
    query = PassageQuery(text=body.query, mode="hybrid", tags=tuple(body.tags or ()), tag_match=body.tag_match_mode,
                         start=iso_bound(body.start_date, "start_date"),
                         end=iso_bound(body.end_date, "end_date", end=True), top_k=body.limit)
    owners: list[PassageOwner]
    if body.archive_id:
        owners = [ws.store.get_archive(body.archive_id)]
    elif body.agent_id:
        agent = ws.store.get_agent(body.agent_id)
        owners = [agent, *ws.store.agent_archives(agent.id)]
    else:
        owners = [*ws.store.list_agents(), *ws.store.list_archives()]
    return [{"passage": shapes.passage(hit.passage, owner.embedding_model), "score": hit.score, "metadata": {}}
            for owner, hit in archival.search_owners(ws.store, owners, query)]
