"""Core memory blocks: an agent's by label, and all blocks by id (shared blocks)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from memos.core import identities as core_identities
from memos.core import memory
from memos.errors import NotFound
from memos.server import shapes
from memos.server.deps import WS, AgentDep, agent_state, agent_states
from memos.server.paging import paged
from memos.server.schemas import LETTA_BLOCK_LIMIT, BlockCreate, BlockUpdate
from memos.store.base import Block

router = APIRouter(prefix="/v1", tags=["memory"])


def _edit(ws: WS, block: Block, body: BlockUpdate) -> Block:
    if body.label is not None:
        block = memory.relabel(ws.store, block, body.label)
    edit = memory.edit_block(ws.store, block.id, value=body.value, limit=body.limit, description=body.description,
                             read_only=body.read_only, actor="user", reason="api")
    return edit.after


@router.get("/agents/{agent_id}/core-memory")
def agent_core_memory(ws: WS, agent: AgentDep) -> dict[str, Any]:
    """Letta's (older) whole core memory of an agent: its blocks, and the files it has open."""
    shaped = [shapes.block(b) for b in ws.store.list_agent_blocks(agent.id)]
    return {"blocks": shaped, "agent_type": "letta_v1_agent", "file_blocks": [], "prompt_template": None}


@router.get("/agents/{agent_id}/core-memory/variables")
def agent_memory_variables(ws: WS, agent: AgentDep) -> dict[str, Any]:
    """Each block's value by its label: what a prompt template's {{label}} stands for."""
    return {"variables": {b.label: b.value for b in ws.store.list_agent_blocks(agent.id)}}


@router.get("/agents/{agent_id}/core-memory/blocks")
def list_agent_blocks(ws: WS, agent: AgentDep, after: str | None = None, before: str | None = None,
                      limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    blocks = paged(ws.store.list_agent_blocks(agent.id), after=after, before=before, limit=limit)
    return [shapes.block(b) for b in blocks]


@router.get("/agents/{agent_id}/core-memory/blocks/{block_label}")
def get_agent_block(ws: WS, agent: AgentDep, block_label: str) -> dict[str, Any]:
    return shapes.block(ws.store.get_agent_block(agent.id, block_label))


@router.patch("/agents/{agent_id}/core-memory/blocks/{block_label}")
def update_agent_block(ws: WS, agent: AgentDep, block_label: str, body: BlockUpdate) -> dict[str, Any]:
    return shapes.block(_edit(ws, ws.store.get_agent_block(agent.id, block_label), body))


@router.patch("/agents/{agent_id}/core-memory/blocks/attach/{block_id}")
def attach_block(ws: WS, agent: AgentDep, block_id: str) -> dict[str, Any]:
    memory.attach(ws.store, agent, block_id)
    return agent_state(ws, agent)


@router.patch("/agents/{agent_id}/core-memory/blocks/detach/{block_id}")
def detach_block(ws: WS, agent: AgentDep, block_id: str) -> dict[str, Any]:
    block = next((b for b in ws.store.list_agent_blocks(agent.id) if b.id == block_id), None)
    if block is None:
        raise NotFound(f"block '{block_id}' is not attached to agent '{agent.name}'")
    memory.detach(ws.store, agent, block.label)
    return agent_state(ws, agent)


@router.get("/blocks/")
def list_blocks(ws: WS, label: str | None = None, after: str | None = None, before: str | None = None,
                limit: int = Query(100, ge=1, le=1000), identity_id: str | None = None,
                identifier_keys: Annotated[list[str] | None, Query()] = None) -> list[dict[str, Any]]:
    blocks = [b for b in ws.store.list_blocks() if label is None or b.label == label]
    blocks = core_identities.belonging(ws.store, blocks, "block", identity_id, identifier_keys)
    return [shapes.block(b) for b in paged(blocks, after=after, before=before, limit=limit)]


@router.get("/blocks/count")
def count_blocks(ws: WS, label: str | None = None) -> int:
    return len([b for b in ws.store.list_blocks() if label is None or b.label == label])


@router.post("/blocks/", status_code=201)
def create_block(ws: WS, body: BlockCreate) -> dict[str, Any]:
    block = memory.create_shared(ws.store, body.label, body.value, limit=body.limit or LETTA_BLOCK_LIMIT,
                                 description=body.description or "", read_only=body.read_only)
    return shapes.block(block)


@router.get("/blocks/{block_id}")
def get_block(ws: WS, block_id: str) -> dict[str, Any]:
    return shapes.block(ws.store.get_block(block_id))


@router.patch("/blocks/{block_id}")
def update_block(ws: WS, block_id: str, body: BlockUpdate) -> dict[str, Any]:
    return shapes.block(_edit(ws, ws.store.get_block(block_id), body))


@router.delete("/blocks/{block_id}")
def delete_block(ws: WS, block_id: str) -> dict[str, Any]:
    ws.store.get_block(block_id)
    ws.store.delete_block(block_id)
    return {"deleted": block_id}


@router.get("/blocks/{block_id}/agents")
def list_block_agents(ws: WS, block_id: str, after: str | None = None, before: str | None = None,
                      limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """The agents sharing this block."""
    agents = [ws.store.get_agent(agent_id) for agent_id in ws.store.get_block(block_id).agent_ids]
    return agent_states(ws, paged(agents, after=after, before=before, limit=limit))
