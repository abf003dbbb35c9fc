"""Scheduled messages (Letta's /v1/agents/{id}/schedule): messages sent to an agent at a time
or on a cron expression; `memos serve` sends them when due (core/schedules.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from memos.core import schedules
from memos.errors import InvalidInput, NotFound
from memos.server import shapes
from memos.server.deps import WS, AgentDep
from memos.server.paging import paged
from memos.server.schemas import ScheduleCreate
from memos.store.base import Schedule

router = APIRouter(prefix="/v1/agents/{agent_id}/schedule", tags=["schedule"])


def _shape(s: Schedule) -> dict[str, Any]:
    timing: dict[str, Any] = {"type": "recurring", "cron_expression": s.cron_expression} if s.cron_expression \
        else {"type": "one-time", "scheduled_at": s.scheduled_at.timestamp() * 1000 if s.scheduled_at else 0}
    return {"id": s.id, "agent_id": s.agent_id, "schedule": timing,
            "next_scheduled_time": shapes.iso(s.next_run_at) if s.next_run_at else None,
            "message": {"messages": list(s.messages), "callback_url": None,
                        "include_return_message_types": s.options.get("include_return_message_types"),
                        "max_steps": s.options.get("max_steps")}}


@router.post("")
def create_schedule(ws: WS, agent: AgentDep, body: ScheduleCreate, request: Request) -> dict[str, Any]:
    if body.callback_url:
        # memos makes no requests of its own to addresses a client names (a server could be made
        # to reach into its network): a client follows the run instead.
        raise InvalidInput("memos does not call a callback_url when a scheduled message is sent",
                           "leave it out and follow the runs: GET /v1/runs/?agent_id=...")
    options = {key: value for key, value in (("max_steps", body.max_steps),
                                             ("include_return_message_types", body.include_return_message_types))
               if value is not None}
    made = schedules.add_schedule(ws, agent, schedules.timing_from_letta(body.schedule),
                                  [m.model_dump(exclude_none=True) for m in body.messages], options)
    watcher = getattr(request.app.state, "schedules", None)
    if watcher is not None:
        watcher.poke()
    return {"id": made.id, "next_scheduled_at": shapes.iso(made.next_run_at) if made.next_run_at else None}


@router.get("")
def list_schedules(ws: WS, agent: AgentDep, after: str | None = None,
                   limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    found = paged(ws.store.list_schedules(agent.id), after=after, before=None, limit=limit + 1)  # one more: a next page?
    return {"scheduled_messages": [_shape(s) for s in found[:limit]], "has_next_page": len(found) > limit}


def _own(ws: WS, agent_id: str, schedule_id: str) -> Schedule:
    found = ws.store.get_schedule(schedule_id)
    if found.agent_id != agent_id:
        raise NotFound(f"agent {agent_id} has no scheduled message '{schedule_id}'", "see GET .../schedule")
    return found


@router.get("/{scheduled_message_id}")
def get_schedule(ws: WS, agent: AgentDep, scheduled_message_id: str) -> dict[str, Any]:
    return _shape(_own(ws, agent.id, scheduled_message_id))


@router.delete("/{scheduled_message_id}")
def delete_schedule(ws: WS, agent: AgentDep, scheduled_message_id: str) -> dict[str, Any]:
    ws.store.delete_schedule(_own(ws, agent.id, scheduled_message_id).id)
    return {"success": True}
