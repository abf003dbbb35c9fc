"""Identities (Letta's /v1/identities): who is behind agents and blocks, with their properties,
and attaching them to agents (`/v1/agents/{id}/identities`) and blocks (`/v1/blocks/{id}/identities`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from memos.server import shapes
from memos.server.deps import WS, AgentDep, agent_state, agent_states
from memos.server.paging import paged
from memos.server.schemas import IdentityCreate, IdentityProperty, IdentityUpdate
from memos.store.base import IdentityChange

router = APIRouter(prefix="/v1", tags=["identities"])
Order = Literal["asc", "desc"]


def _properties(given: list[IdentityProperty] | None) -> list[dict[str, Any]] | None:
    return None if given is None else [p.model_dump() for p in given]


@router.get("/identities/")
def list_identities(ws: WS, name: str | None = None, project_id: str | None = None, identifier_key: str | None = None,
                    identity_type: Literal["org", "user", "other"] | None = None, before: str | None = None,
                    after: str | None = None, limit: int = Query(50, ge=1, le=1000),
                    order: Order = "desc") -> list[dict[str, Any]]:
    found = [i for i in ws.store.list_identities()
             if (name is None or name.lower() in i.name.lower()) and (project_id is None or i.project_id == project_id)
             and (identifier_key is None or i.identifier_key == identifier_key)
             and (identity_type is None or i.identity_type == identity_type)]
    return [shapes.identity(i) for i in paged(found, after=after, before=before, limit=limit, order=order)]


@router.get("/identities/count")
def count_identities(ws: WS) -> int:
    return len(ws.store.list_identities())


@router.post("/identities/")
def create_identity(ws: WS, body: IdentityCreate) -> dict[str, Any]:
    return shapes.identity(ws.store.create_identity(
        body.identifier_key, body.name, body.identity_type, project_id=body.project_id,
        properties=_properties(body.properties) or [], agent_ids=body.agent_ids or [], block_ids=body.block_ids or []))


@router.put("/identities/")
def upsert_identity(ws: WS, body: IdentityCreate) -> dict[str, Any]:
    """Create the identity of this key (and project), or make the one there is what the body says:
    its properties and members are replaced by those given, as Letta's upsert does."""
    current = ws.store.find_identity(body.identifier_key, body.project_id)
    if current is None:
        return create_identity(ws, body)
    return shapes.identity(ws.store.update_identity(current.id, IdentityChange(
        name=body.name, identity_type=body.identity_type, properties=_properties(body.properties),
        agent_ids=body.agent_ids, block_ids=body.block_ids, replace=True)))


@router.get("/identities/{identity_id}")
def get_identity(ws: WS, identity_id: str) -> dict[str, Any]:
    return shapes.identity(ws.store.get_identity(identity_id))


@router.patch("/identities/{identity_id}")
def update_identity(ws: WS, identity_id: str, body: IdentityUpdate) -> dict[str, Any]:
    """Fields given replace; properties merge by key and agents and blocks are added (Letta's PATCH)."""
    return shapes.identity(ws.store.update_identity(identity_id, IdentityChange(
        identifier_key=body.identifier_key, name=body.name, identity_type=body.identity_type,
        properties=_properties(body.properties), agent_ids=body.agent_ids, block_ids=body.block_ids)))


@router.put("/identities/{identity_id}/properties")
def replace_identity_properties(ws: WS, identity_id: str, body: list[IdentityProperty]) -> dict[str, Any]:
    return shapes.identity(ws.store.update_identity(identity_id, IdentityChange(
        properties=_properties(body), replace=True)))


@router.delete("/identities/{identity_id}")
def delete_identity(ws: WS, identity_id: str) -> None:
    ws.store.delete_identity(identity_id)


@router.get("/identities/{identity_id}/agents")
def identity_agents(ws: WS, identity_id: str, before: str | None = None, after: str | None = None,
                    limit: int = Query(50, ge=1, le=1000), order: Order = "desc",
                    include: Annotated[list[str] | None, Query()] = None) -> list[dict[str, Any]]:
    members = set(ws.store.get_identity(identity_id).agent_ids)
    agents = sorted((a for a in ws.store.list_agents() if a.id in members), key=lambda a: (a.created_at, a.id))
    return agent_states(ws, paged(agents, after=after, before=before, limit=limit, order=order),
                        with_blocks="agent.blocks" in (include or []))


@router.get("/identities/{identity_id}/blocks")
def identity_blocks(ws: WS, identity_id: str, before: str | None = None, after: str | None = None,
                    limit: int = Query(50, ge=1, le=1000), order: Order = "desc") -> list[dict[str, Any]]:
    blocks = sorted((ws.store.get_block(b) for b in ws.store.get_identity(identity_id).block_ids),
                    key=lambda b: (b.created_at, b.id))
    return [shapes.block(b) for b in paged(blocks, after=after, before=before, limit=limit, order=order)]


@router.patch("/agents/{agent_id}/identities/attach/{identity_id}")
def attach_identity_to_agent(ws: WS, agent: AgentDep, identity_id: str) -> dict[str, Any]:
    ws.store.link_identity(identity_id, "agent", agent.id, True)
    return agent_state(ws, agent)


@router.patch("/agents/{agent_id}/identities/detach/{identity_id}")
def detach_identity_from_agent(ws: WS, agent: AgentDep, identity_id: str) -> dict[str, Any]:
    ws.store.link_identity(identity_id, "agent", agent.id, False)
    return agent_state(ws, agent)


@router.patch("/blocks/{block_id}/identities/attach/{identity_id}")
def attach_identity_to_block(ws: WS, block_id: str, identity_id: str) -> dict[str, Any]:
    ws.store.link_identity(identity_id, "block", ws.store.get_block(block_id).id, True)
    return shapes.block(ws.store.get_block(block_id))


@router.patch("/blocks/{block_id}/identities/detach/{identity_id}")
def detach_identity_from_block(ws: WS, block_id: str, identity_id: str) -> dict[str, Any]:
    ws.store.link_identity(identity_id, "block", ws.store.get_block(block_id).id, False)
    return shapes.block(ws.store.get_block(block_id))

