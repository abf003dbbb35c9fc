"""Runs and steps in Letta's shapes (`/v1/runs`, `/v1/steps`), and the agent's context-window
overview (`/v1/agents/{id}/context`): what the agent did, what it cost, what its prompt holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from memos.core.observe import context_overview, run_summary
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NothingToDo
from memos.server import shapes
from memos.server.deps import WS, AgentDep, CallStates, TurnService, agent_tools
from memos.server.schemas import StepFeedback, StreamResume
from memos.server.streams import KEEP_HOURS, KEEP_RUNS
from memos.server.turns import Turns
from memos.store.base import Run, RunSummary, Step

router = APIRouter(prefix="/v1", tags=["runs"])
Order = Literal["asc", "desc"]

# memos's run statuses and stop reasons in Letta's words (a client validates them strictly).
RUN_STATUS = {"running": "running", "completed": "completed", "cancelled": "cancelled", "failed": "failed",
              "interrupted": "failed"}
STOP_REASON = {"end_turn": "end_turn", "cancelled": "cancelled", "max_steps": "max_steps",
               "requires_approval": "requires_approval", "error": "error", "interrupted": "error"}


def run_shape(summary: RunSummary, background: bool = False) -> dict[str, Any]:
    run = summary.run
    took = _run_seconds(run)
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
            "stop_reason": "cancelled" if step.stop_reason == "cancelled" else None,
            "feedback": step.feedback, "tags": list(step.feedback_tags),
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


@router.get("/runs/active")
def list_active_runs(ws: WS, turns: TurnService, agent_id: str | None = None,
                     background: bool | None = None) -> list[dict[str, Any]]:
    """Letta's running runs, newest first (``background``: only those streamed in the background,
    or only the others)."""
    agents = [ws.store.get_agent(agent_id).id] if agent_id else None
    found = ws.store.list_runs(agent_ids=agents, statuses=["running"], limit=1000)
    streamed = turns.streams.background([s.run.id for s in found])
    return [run_shape(s, s.run.id in streamed) for s in found
            if background is None or (s.run.id in streamed) == background]


@router.get("/runs/{run_id}")
def get_run(ws: WS, turns: TurnService, run_id: str) -> dict[str, Any]:
    return run_shape(run_summary(ws, run_id), bool(turns.streams.background([run_id])))


@router.delete("/runs/{run_id}")
def delete_run(ws: WS, turns: TurnService, run_id: str) -> dict[str, Any]:
    """Forget a finished run (its steps' records too; the messages it wrote stay in the agent's
    log). Letta answers with the run as it was."""
    gone = get_run(ws, turns, run_id)
    ws.store.delete_run(run_id)
    return gone


@router.get("/runs/{run_id}/metrics")
def run_metrics(ws: WS, run_id: str) -> dict[str, Any]:
    """Letta's run metrics from what memos records: when it started, how long it took, its
    steps, and the tools it called."""
    summary = run_summary(ws, run_id)
    run, steps = summary.run, ws.store.list_steps(run_id=run_id, limit=1000)
    took = _run_seconds(run)
    by_name = {t["name"]: t["id"] for t in agent_tools(ws, ws.store.get_agent(run.agent_id))}
    used = dict.fromkeys(by_name.get(c.name, c.name) for s in steps for c in s.tool_calls)
    return {"id": run.id, "agent_id": run.agent_id, "run_start_ns": _ns(run.created_at),
            "run_ns": None if took is None else int(took * 1e9), "num_steps": summary.steps,
            "tools_used": list(used), "project_id": None, "template_id": None, "base_template_id": None}


@router.get("/runs/{run_id}/trace")
def run_trace(ws: WS, run_id: str, limit: int = Query(1000, ge=1, le=5000)) -> list[dict[str, Any]]:
    """The run as spans (OpenTelemetry's names): the run, each step (its LLM call), each tool call
    a step made. Built from the run's records: memos exports no telemetry."""
    run = ws.store.get_run(run_id)
    took = _run_seconds(run)
    spans = [_span(run.id, run.id, None, "agent.run", run.created_at, took,
                   {"agent_id": run.agent_id, "status": run.status, "stop_reason": run.stop_reason})]
    for step in ws.store.list_steps(run_id=run_id, limit=1000):
        spans.append(_span(run.id, step.id, run.id, "agent.step", _step_start(step), _seconds(step.duration_ms),
                           {"model": step.model, "prompt_tokens": step.prompt_tokens,
                            "completion_tokens": step.completion_tokens, "llm_ms": step.latency_ms}))
        spans.extend(_span(run.id, call.id, step.id, f"tool.{call.name}", call.created_at or step.created_at,
                           _seconds(call.duration_ms), {"tool_call_id": call.tool_call_id, "status": call.status})
                     for call in step.tool_calls)
    return spans[:limit]


def _run_seconds(run: Run) -> float | None:
    """How long a run took (None while it runs)."""
    return (run.completed_at - run.created_at).total_seconds() if run.completed_at else None


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def _step_start(step: Step) -> datetime:
    """A step is stored when it ends: it began its whole duration before."""
    return step.created_at - timedelta(milliseconds=step.duration_ms or 0)


def _span(trace_id: str, span_id: str, parent: str | None, name: str, start: datetime, seconds: float | None,
          attributes: dict[str, Any]) -> dict[str, Any]:
    return {"trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name,
            "start_time": shapes.iso(start), "duration_ns": None if seconds is None else int(seconds * 1e9),
            "attributes": attributes}


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
    shaped = CallStates(ws, run.agent_id).shape(ws.store.run_messages(run_id, after=after, limit=limit, order=order))
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


@router.patch("/steps/{step_id}/feedback")
def step_feedback(ws: WS, step_id: str, body: StepFeedback) -> dict[str, Any]:
    return step_shape(ws.store.set_step_feedback(step_id, body.feedback, body.tags))


@router.get("/steps/{step_id}/messages")
def step_messages(ws: WS, step_id: str, after: str | None = None, limit: int = Query(100, ge=1, le=1000),
                  order: Literal["asc", "desc"] = "asc") -> list[dict[str, Any]]:
    step = ws.store.get_step(step_id)
    return CallStates(ws, step.agent_id).shape(ws.store.step_messages(step_id, after=after, limit=limit, order=order))


@router.get("/steps/{step_id}/metrics")
def step_metrics(ws: WS, step_id: str) -> dict[str, Any]:
    step = ws.store.get_step(step_id)
    tools = [c.duration_ms for c in step.tool_calls if c.duration_ms is not None]
    return {"id": step.id, "agent_id": step.agent_id, "run_id": step.run_id, "provider_id": None,
            "step_start_ns": _ns(_step_start(step)),
            "step_ns": None if step.duration_ms is None else int(step.duration_ms * 1e6),
            "llm_request_start_ns": _ns(_step_start(step)),
            "llm_request_ns": None if step.latency_ms is None else int(step.latency_ms * 1e6),
            "tool_execution_ns": int(sum(tools) * 1e6) if tools else None,
            "project_id": None, "template_id": None, "base_template_id": None}


@router.get("/steps/{step_id}/trace")
def step_trace(ws: WS, step_id: str) -> dict[str, Any]:
    """Letta's provider trace of a step, rebuilt from what memos stores: the model asked and the
    answer it gave (the step's reply and tool calls, with the tokens counted). memos does not keep
    the raw request (the whole prompt) of every step."""
    step = ws.store.get_step(step_id)
    replies = [m for m in ws.store.step_messages(step_id, limit=1000) if m.role == "assistant"]
    usage = {"prompt_tokens": step.prompt_tokens, "completion_tokens": step.completion_tokens,
             "total_tokens": step.prompt_tokens + step.completion_tokens}
    return {"id": f"provider_trace-{step.id.removeprefix('step-')}", "step_id": step.id, "agent_id": step.agent_id,
            "run_id": step.run_id, "call_type": "agent_step", "source": "memos",
            "request_json": {"model": step.model},
            "response_json": {"model": step.model, "usage": usage, "choices": [
                {"index": i, "message": {"role": "assistant", "content": m.content, "tool_calls": m.tool_calls}}
                for i, m in enumerate(replies)]},
            "created_at": shapes.iso(step.created_at)}


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
