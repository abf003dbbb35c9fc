"""Archives (Letta's /v1/archives): passages shared by several agents, each embedded with the
archive's model; an agent an archive is attached to searches it beside its own archival memory."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from memos.core import archival, letta
from memos.core.ingest import Record
from memos.core.timeparse import iso_bound
from memos.errors import InvalidInput, NotFound
from memos.server import shapes
from memos.server.deps import WS, AgentDep, agent_state, agent_states
from memos.server.paging import paged
from memos.server.schemas import ArchiveCreate, ArchivePassageIn, ArchivePassagesIn, ArchiveUpdate
from memos.store.base import Archive

router = APIRouter(prefix="/v1", tags=["archives"])


def archive_shape(a: Archive) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "description": a.description, "metadata": a.metadata,
            "embedding_config": letta.embedding_config_for(a.embedding_model), "vector_db_provider": "native",
            "created_at": shapes.iso(a.created_at), "updated_at": shapes.iso(a.updated_at),
            "created_by_id": None, "last_updated_by_id": None}


@router.get("/archives/")
def list_archives(ws: WS, name: str | None = None, agent_id: str | None = None, before: str | None = None,
                  after: str | None = None, limit: int = Query(50, ge=1, le=1000),
                  order: Literal["asc", "desc"] = "desc") -> list[dict[str, Any]]:
    found = ws.store.agent_archives(ws.store.get_agent(agent_id).id) if agent_id else ws.store.list_archives()
    found = [a for a in found if name is None or a.name == name]
    return [archive_shape(a) for a in paged(found, after=after, before=before, limit=limit, order=order)]


@router.post("/archives/")
def create_archive(ws: WS, body: ArchiveCreate) -> dict[str, Any]:
    # The model the client names (an embedding handle or config), else memos's default.
    model = body.embedding or letta.embedding_handle(body.embedding_config) or str(ws.config.get("embedding_model"))
    return archive_shape(ws.store.create_archive(body.name, model, description=body.description,
                                                 metadata=body.metadata))


@router.get("/archives/{archive_id}")
def get_archive(ws: WS, archive_id: str) -> dict[str, Any]:
    return archive_shape(ws.store.get_archive(archive_id))


@router.patch("/archives/{archive_id}")
def update_archive(ws: WS, archive_id: str, body: ArchiveUpdate) -> dict[str, Any]:
    return archive_shape(ws.store.update_archive(archive_id, name=body.name, description=body.description,
                                                 metadata=body.metadata))


@router.delete("/archives/{archive_id}")
def delete_archive(ws: WS, archive_id: str) -> None:
    ws.store.delete_archive(archive_id)


@router.get("/archives/{archive_id}/agents")
def archive_agents(ws: WS, archive_id: str, before: str | None = None, after: str | None = None,
                   limit: int = Query(50, ge=1, le=1000), order: Literal["asc", "desc"] = "desc",
                   include: list[str] | None = Query(None)) -> list[dict[str, Any]]:  # noqa: B008 (FastAPI's way)
    attached = ws.store.archive_agents(archive_id)
    agents = [ws.store.get_agent(agent_id) for agent_id in attached]
    return agent_states(ws, paged(agents, after=after, before=before, limit=limit, order=order),
                        with_blocks="agent.blocks" in (include or []))


def _insert(ws: WS, archive_id: str, given: list[ArchivePassageIn]) -> list[dict[str, Any]]:
    archive = ws.store.get_archive(archive_id)
    for item in given:
        if item.metadata:
            raise InvalidInput("memos keeps no metadata on passages", "put what matters in tags or the text")
    records = [Record(item.text, list(item.tags or []), i + 1, iso_bound(item.created_at, "created_at"))
               for i, item in enumerate(given)]
    inserted = archival.insert(ws.store, archive, records, related=False)  # an archive's passages are notes
    return [shapes.passage(p, archive.embedding_model) for p in inserted]


@router.post("/archives/{archive_id}/passages")
def create_archive_passage(ws: WS, archive_id: str, body: ArchivePassageIn) -> dict[str, Any]:
    return _insert(ws, archive_id, [body])[0]  # a text longer than a passage is stored as several


@router.post("/archives/{archive_id}/passages/batch")
def create_archive_passages(ws: WS, archive_id: str, body: ArchivePassagesIn) -> list[dict[str, Any]]:
    return _insert(ws, archive_id, body.passages)


@router.delete("/archives/{archive_id}/passages/{passage_id}")
def delete_archive_passage(ws: WS, archive_id: str, passage_id: str) -> None:
    archive = ws.store.get_archive(archive_id)
    if not ws.store.delete_passages(archive.id, [passage_id]):
        raise NotFound(f"archive {archive.name} has no passage '{passage_id}'")


@router.patch("/agents/{agent_id}/archives/attach/{archive_id}")
def attach_archive(ws: WS, agent: AgentDep, archive_id: str) -> dict[str, Any]:
    ws.store.attach_archive(agent.id, archive_id, True)
    return agent_state(ws, agent)


@router.patch("/agents/{agent_id}/archives/detach/{archive_id}")
def detach_archive(ws: WS, agent: AgentDep, archive_id: str) -> dict[str, Any]:
    ws.store.attach_archive(agent.id, archive_id, False)
    return agent_state(ws, agent)
