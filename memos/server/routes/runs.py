"""Runs and steps in Letta's shapes (`/v1/runs`, `/v1/steps`), and the agent's context-window
overview (`/v1/agents/{id}/context`): what the agent did, what it cost, what its prompt holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from memos.core.observe import context_overview, run_summary
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NothingToDo
from memos.server import shapes
from memos.server.deps import WS, AgentDep, TurnService, pending_call_ids
from memos.server.schemas import StreamResume
from memos.server.streams import KEEP_HOURS, KEEP_RUNS
from memos.server.turns import Turns
from memos.store.base import RunSummary, Step

router = APIRouter(prefix="/v1", tags=["runs"])
Order = Literal["asc", "desc"]

# memos's run statuses and stop reasons in Letta's words (a client validates them strictly).
RUN_STATUS = {"running": "running", "completed": "completed", "cancelled": "cancelled", "failed": "failed",
              "interrupted": "failed"}
STOP_REASON = {"end_turn": "end_turn", "cancelled": "cancelled", "max_steps": "max_steps",
               "requires_approval": "requires_approval", "error": "error", "interrupted": "error"}


def run_shape(summary: RunSummary, background: bool = False) -> dict[str, Any]:
    run = summary.run
    took = (run.completed_at - run.created_at).total_seconds() if run.completed_at else None
    return {"id": run.id, "agent_id": run.agent_id, "status": RUN_STATUS.get(run.status, "failed"),
            "stop_reason": STOP_REASON.get(run.stop_reason or "") if run.stop_reason else None,
            "created_at": shapes.iso(run.created_at), "completed_at": shapes.iso(run.completed_at),
            "total_duration_ns": None if took is None else int(took * 1e9), "background": background,
            "conversation_id": run.conversation_id, "request_config": run.request_config,
            "metadata": {"memos_status": run.status, "actor": run.actor, "steps": summary.steps,
                         "cost_usd": summary.cost_usd, "unpriced_steps": summary.unpriced_steps,
                         "tool_calls": summary.tool_calls, "tool_errors": summary.tool_errors}}


def step_shape(step: Step) -> dict[str, Any]:
    return {"id": step.id, "agent_id": step.agent_id, "run_id": step.run_id, "model": step.model,
            "prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens,
            "total_tokens": step.prompt_tokens + step.completion_tokens, "cached_input_tokens": step.cached_tokens,
            "status": "cancelled" if step.stop_reason == "cancelled" else "success",
            "stop_reason": "cancelled" if step.stop_reason == "cancelled" else None, "tags": [],
            # memos's own figures: cost (None when the price is unknown), times, the step's tool calls.
            "cost_usd": step.cost_usd, "llm_ms": step.latency_ms, "step_ms": step.duration_ms,
            "created_at": shapes.iso(step.created_at),
            "tool_calls": [{"name": c.name, "status": c.status, "duration_ms": c.duration_ms,
                            "tool_call_id": c.tool_call_id} for c in step.tool_calls]}


def _date(raw: str | None, name: str) -> datetime | None:
    """An ISO date or time from a query; without a zone, UTC (what memos stores)."""
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(f"{name} '{raw}' is not an ISO date", "e.g. 2026-11-30T08:00:00Z") from None


@router.get("/runs/")
def list_runs(ws: WS, turns: TurnService, agent_id: str | None = None, agent_ids: Annotated[list[str] | None, Query()] = None,
              statuses: Annotated[list[str] | None, Query()] = None, before: str | None = None, after: str | None = None,
              limit: int = Query(50, ge=1, le=1000), order: Literal["asc", "desc"] = "desc",
              active: bool = False, conversation_id: str | None = None) -> list[dict[str, Any]]:
    """Newest first by default; ``after`` pages on in the order asked for, ``before`` back. The
    store pages, so a page costs the same however many runs there are."""
    agents = [ws.store.get_agent(a).id for a in ([agent_id] if agent_id else []) + (agent_ids or [])]
    wanted = set(statuses or []) | ({"running"} if active else set())
    # Letta's status names to memos's (a run memos marks interrupted is failed to Letta).
    memos_statuses = sorted({s for name in wanted for s, letta in RUN_STATUS.items() if name in (s, letta)})
    found = _cursor_page(lambda cursor, way: ws.store.list_runs(
        agent_ids=agents or None, statuses=memos_statuses if wanted else None, limit=limit, after=cursor, order=way,
        conversation_id=conversation_id),
        lambda s: s.run.id, after, before, order)
    background = turns.streams.background([s.run.id for s in found])
    return [run_shape(s, s.run.id in background) for s in found]


T = TypeVar("T")


def _cursor_page(fetch: Callable[[str | None, Order], list[T]], key: Callable[[T], str], after: str | None,
                 before: str | None, order: Order) -> list[T]:
    """A page the store reads by cursor: ``after`` pages on in ``order``; ``before`` alone is the
    page just before it (read the other way, then turned round); both: from after up to before."""
    if before is not None and after is None:
        return list(reversed(fetch(before, "asc" if order == "desc" else "desc")))
    found = fetch(after, order)
    if before is not None:
        ids = [key(item) for item in found]
        found = found[:ids.index(before)] if before in ids else found
    return found


@router.get("/runs/{run_id}")
def get_run(ws: WS, turns: TurnService, run_id: str) -> dict[str, Any]:
    return run_shape(run_summary(ws, run_id), bool(turns.streams.background([run_id])))


@router.post("/runs/{run_id}/stream", response_model=None)
def resume_run_stream(ws: WS, turns: TurnService, run_id: str, body: StreamResume | None = None) -> StreamingResponse:
    """The chunks of a background streamed turn after ``starting_after`` (a seq_id), then the rest
    as it comes: how a client that left reads on."""
    return resume(ws, turns, run_id, body)


def resume(ws: Workspace, turns: Turns, run_id: str, body: StreamResume | None) -> StreamingResponse:
    body = body or StreamResume()
    chunks = turns.streams.follow(run_id, body.starting_after, bool(body.include_pings))
    if chunks is None:
        ws.store.get_run(run_id)  # unknown: 404
        raise NothingToDo("Run was not created in background mode, so it cannot be retrieved.",
                           "stream with background: true to resume later (streams are kept for "
                           f"{KEEP_HOURS:g} hours, the newest {KEEP_RUNS})")
    return StreamingResponse(chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/runs/{run_id}/steps")
def run_steps(ws: WS, run_id: str, after: str | None = None, before: str | None = None,
              limit: int = Query(100, ge=1, le=1000), order: Literal["asc", "desc"] = "asc") -> list[dict[str, Any]]:
    ws.store.get_run(run_id)  # 404 for an unknown run
    steps = _cursor_page(lambda cursor, way: ws.store.list_steps(run_id=run_id, limit=limit, after=cursor, order=way),
                         lambda s: s.id, after, before, order)
    return [step_shape(s) for s in steps]


@router.get("/runs/{run_id}/usage")
def run_usage(ws: WS, run_id: str) -> dict[str, Any]:
    summary = run_summary(ws, run_id)
    return {"prompt_tokens": summary.prompt_tokens, "completion_tokens": summary.completion_tokens,
            "total_tokens": summary.prompt_tokens + summary.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": summary.cached_tokens},
            "cost_usd": summary.cost_usd, "step_count": summary.steps}


@router.get("/runs/{run_id}/messages")
def run_messages(ws: WS, run_id: str, after: str | None = None, limit: int = Query(100, ge=1, le=1000),
                 order: Literal["asc", "desc"] = "asc") -> list[dict[str, Any]]:
    run = ws.store.get_run(run_id)
    stored = ws.store.run_messages(run_id, after=after, limit=limit, order=order)
    shaped = shapes.stored_messages(stored, pending_call_ids(ws, run.agent_id))
    wanted = (run.request_config or {}).get("include_return_message_types")
    return shaped if wanted is None else [m for m in shaped if m["message_type"] in wanted]


@router.get("/steps/")
def list_steps(ws: WS, agent_id: str | None = None, before: str | None = None, after: str | None = None,
               limit: int = Query(50, ge=1, le=1000), order: Literal["asc", "desc"] = "desc",
               model: str | None = None, start_date: str | None = None,
               end_date: str | None = None) -> list[dict[str, Any]]:
    start, end = _date(start_date, "start_date"), _date(end_date, "end_date")
    agent = ws.store.get_agent(agent_id).id if agent_id else None
    steps = _cursor_page(lambda cursor, way: ws.store.list_steps(
        agent_id=agent, limit=limit, after=cursor, order=way, model=model, start=start, end=end),
        lambda s: s.id, after, before, order)
    return [step_shape(s) for s in steps]


@router.get("/steps/{step_id}")
def get_step(ws: WS, step_id: str) -> dict[str, Any]:
    return step_shape(ws.store.get_step(step_id))


@router.get("/agents/{agent_id}/context")
def agent_context(ws: WS, agent: AgentDep) -> dict[str, Any]:
    """Letta's context-window overview: what the next prompt holds, in tokens."""
    overview = context_overview(ws, agent)
    parts = {p.kind: 0 for p in overview.parts}
    for part in overview.parts:
        parts[part.kind] += part.tokens
    stats = ws.store.message_stats(agent.id)
    return {"context_window_size_max": overview.window, "context_window_size_current": overview.total,
            "num_messages": overview.messages, "num_archival_memory": ws.store.core_memory(agent.id).passages,
            "num_recall_memory": stats.total, "num_tokens_external_memory_summary": parts.get("memory", 0),
            "external_memory_summary": "", "num_tokens_system": parts.get("system", 0),
            "system_prompt": overview.system_prompt,
            "num_tokens_core_memory": parts.get("block", 0) + parts.get("memory", 0),
            "core_memory": overview.core_memory, "num_tokens_summary_memory": parts.get("summary", 0),
            "summary_memory": overview.summary, "num_tokens_functions_definitions": parts.get("tools", 0),
            "functions_definitions": overview.tool_schemas, "num_tokens_messages": parts.get("messages", 0),
            "messages": [], "summarize_at_tokens": int(overview.window * overview.threshold),
            "parts": overview.to_dict()["parts"]}
