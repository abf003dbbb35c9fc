"""Groups (Letta's /v1/groups): memos runs sleep-time groups, a main agent and the sleep-time
agent that keeps its memory (core/sleeptime.py). Letta's other group kinds (round robin,
supervisor, dynamic) are refused rather than stored and never run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from memos.core import sleeptime
from memos.errors import InvalidInput
from memos.server import shapes
from memos.server.deps import WS, AgentDep
from memos.server.paging import paged
from memos.server.schemas import GroupCreate, GroupUpdate

router = APIRouter(prefix="/v1", tags=["groups"])


def _sleeptime_only(manager_type: str) -> None:
    if manager_type != sleeptime.SLEEPTIME:
        raise InvalidInput(f"memos runs sleep-time groups only, not '{manager_type}'",
                           "create the agent with enable_sleeptime, or give agents the multi-agent tools")


@router.get("/groups/")
def list_groups(ws: WS, manager_type: str | None = None, after: str | None = None, before: str | None = None,
                limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
    found = [g for g in ws.store.list_groups() if manager_type is None or g.manager_type == manager_type]
    return [shapes.group_shape(g) for g in paged(found, after=after, before=before, limit=limit)]


@router.post("/groups/")
def create_group(ws: WS, body: GroupCreate) -> dict[str, Any]:
    config = body.manager_config
    _sleeptime_only(config.manager_type if config else "round_robin")
    assert config is not None
    if not config.manager_agent_id:
        raise InvalidInput("a sleep-time group needs its manager_agent_id (the main agent)")
    main = ws.store.get_agent(config.manager_agent_id)
    if sleeptime.group_of(ws.store, main) is not None:
        raise InvalidInput(f"agent '{main.name}' has a sleep-time group already", "modify that group instead")
    members = [ws.store.get_agent(a).id for a in body.agent_ids]
    group = ws.store.create_group(sleeptime.SLEEPTIME, main.id, members, description=body.description,
                                  frequency=config.sleeptime_agent_frequency or sleeptime.DEFAULT_FREQUENCY)
    for block in ws.store.list_agent_blocks(main.id):  # a sleep-time agent shares its main agent's memory
        sleeptime.share_block(ws.store, main, block.id, attach=True)
    return shapes.group_shape(group)


@router.get("/groups/count")
def count_groups(ws: WS) -> int:
    return len(ws.store.list_groups())


@router.get("/groups/{group_id}")
def retrieve_group(ws: WS, group_id: str) -> dict[str, Any]:
    return shapes.group_shape(ws.store.get_group(group_id))


@router.patch("/groups/{group_id}")
def modify_group(ws: WS, group_id: str, body: GroupUpdate) -> dict[str, Any]:
    current = ws.store.get_group(group_id)
    frequency = None
    if body.manager_config is not None:
        _sleeptime_only(body.manager_config.manager_type)
        frequency = body.manager_config.sleeptime_agent_frequency
    members = [ws.store.get_agent(a).id for a in body.agent_ids] if body.agent_ids is not None else None
    return shapes.group_shape(ws.store.update_group(current.id, description=body.description, frequency=frequency,
                                                    agent_ids=members))


@router.delete("/groups/{group_id}")
def delete_group(ws: WS, group_id: str) -> None:
    """The group ends; its agents stay (delete the sleep-time agent, or set enable_sleeptime false on
    the main agent, to remove it too)."""
    ws.store.delete_group(ws.store.get_group(group_id).id)


@router.get("/agents/{agent_id}/groups")
def agent_groups(ws: WS, agent: AgentDep, manager_type: str | None = None) -> list[dict[str, Any]]:
    return [shapes.group_shape(g) for g in ws.store.list_groups(agent.id)
            if manager_type is None or g.manager_type == manager_type]


