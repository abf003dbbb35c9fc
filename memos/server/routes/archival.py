"""Archival memory (passages): insert, list, search, delete."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from memos.core import archival
from memos.core.ingest import Record
from memos.core.timeparse import iso_bound
from memos.server import shapes
from memos.server.deps import WS, AgentDep
from memos.server.schemas import PassageCreate
from memos.store.base import PassageQuery

router = APIRouter(prefix="/v1/agents/{agent_id}/archival-memory", tags=["archival memory"])


@router.post("", status_code=201)
def insert_passage(ws: WS, agent: AgentDep, body: PassageCreate) -> list[dict[str, Any]]:
    inserted = archival.insert(ws.store, agent, [Record(body.text, list(body.tags or []))])
    return [shapes.passage(p, agent.embedding_model) for p in inserted]


@router.get("")
def list_passages(ws: WS, agent: AgentDep, after: str | None = None, before: str | None = None,
                  limit: int = Query(50, ge=1, le=1000), search: str | None = None,
                  ascending: bool = True) -> list[dict[str, Any]]:
    """A page of passages (oldest first unless ``ascending=false``); ``search`` ranks by text and meaning."""
    if search:
        hits = archival.search(ws.store, agent, PassageQuery(text=search, mode="hybrid", top_k=limit))
        return [shapes.passage(h.passage, agent.embedding_model) for h in hits]
    passages = ws.store.list_passages(agent.id, after=after, before=before, limit=limit, ascending=ascending)
    return [shapes.passage(p, agent.embedding_model) for p in passages]


@router.get("/search")
def search_passages(ws: WS, agent: AgentDep, query: str = Query(min_length=1),
                    top_k: int = Query(10, ge=1, le=archival.MAX_TOP_K), tags: list[str] | None = Query(None),  # noqa: B008 (FastAPI's way)
                    tag_match_mode: Literal["any", "all"] = "any", start_datetime: str | None = None,
                    end_datetime: str | None = None) -> dict[str, Any]:
    """Hybrid (meaning + words) search, in the shape of Letta's archival search."""
    hits = archival.search(ws.store, agent, PassageQuery(
        text=query, mode="hybrid", tags=tuple(tags or ()), tag_match=tag_match_mode,
        start=iso_bound(start_datetime, "start_datetime"), end=iso_bound(end_datetime, "end_datetime", end=True),
        top_k=top_k))
    results = [{"id": h.passage.id, "content": h.passage.text, "timestamp": shapes.iso(h.passage.created_at),
                "tags": h.passage.tags} for h in hits]
    return {"count": len(results), "results": results}


@router.get("/{memory_id}")
def get_passage(ws: WS, agent: AgentDep, memory_id: str) -> dict[str, Any]:
    return shapes.passage(ws.store.get_passage(agent.id, memory_id), agent.embedding_model)


@router.delete("/{memory_id}")
def delete_passage(ws: WS, agent: AgentDep, memory_id: str) -> dict[str, Any]:
    ws.store.get_passage(agent.id, memory_id)  # 404 when it is not this agent's
    ws.store.delete_passages(agent.id, [memory_id])
    return {"deleted": memory_id}
