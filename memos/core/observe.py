"""What the agent did and what it cost: runs with their steps, usage totals, and what the next
prompt holds. The CLI (`memos runs`, `memos usage`, `memos context`), the TUI and the API show
these; they hold no arithmetic of their own."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from memos.core.context import block_sections, compile_context, is_summary
from memos.core.folders import directories_for
from memos.core.tokens import count_tokens, text_tokens
from memos.core.workspace import Workspace
from memos.errors import NotFound
from memos.store.base import Agent, RunSummary, Step, UsageGroup, UsageRow


def step_view(step: Step) -> dict[str, Any]:
    return {"id": step.id, "run_id": step.run_id, "model": step.model, "prompt_tokens": step.prompt_tokens,
            "completion_tokens": step.completion_tokens, "cached_tokens": step.cached_tokens,
            "cost_usd": step.cost_usd, "llm_ms": _round(step.latency_ms), "step_ms": _round(step.duration_ms),
            "stop_reason": step.stop_reason, "created_at": step.created_at,
            "tool_calls": [{"name": c.name, "status": c.status, "duration_ms": _round(c.duration_ms),
                            "arguments": c.arguments, "tool_commit": c.tool_commit} for c in step.tool_calls]}


def run_view(summary: RunSummary, steps: list[Step] | None = None) -> dict[str, Any]:
    run = summary.run
    took = (run.completed_at - run.created_at).total_seconds() * 1000 if run.completed_at else None
    view: dict[str, Any] = {
        "id": run.id, "agent": summary.agent_name, "agent_id": run.agent_id, "actor": run.actor,
        "status": run.status, "stop_reason": run.stop_reason, "created_at": run.created_at,
        "completed_at": run.completed_at, "duration_ms": _round(took), "steps": summary.steps,
        "prompt_tokens": summary.prompt_tokens, "completion_tokens": summary.completion_tokens,
        "cached_tokens": summary.cached_tokens, "cost_usd": summary.cost_usd, "unpriced_steps": summary.unpriced_steps,
        "tool_calls": summary.tool_calls, "tool_errors": summary.tool_errors}
    if steps is not None:
        view["step_list"] = [step_view(s) for s in steps]
    return view


def duration_text(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}s" if ms >= 1000 else f"{ms:.0f}ms"


def run_lines(view: dict[str, Any]) -> list[str]:
    """A run step by step, as `memos runs show` and the TUI's Runs tab show it."""
    when = view["created_at"].astimezone().strftime("%Y-%m-%d %H:%M")
    stop = f" ({view['stop_reason']})" if view["stop_reason"] else ""
    lines = [f"{view['id']}  agent {view['agent']} ({view['actor']})  {view['status']}{stop}  {when}"
             f"  {duration_text(view['duration_ms'])}",
             f"{view['steps']} step(s), {view['prompt_tokens']:,} tokens in ({view['cached_tokens']:,} cached), "
             f"{view['completion_tokens']:,} out, {cost_text(view['cost_usd'], view['unpriced_steps'])}"]
    for number, step in enumerate(view.get("step_list", []), 1):
        lines.append(f"  step {number}  {step['model']}  {step['prompt_tokens']:,} in / {step['completion_tokens']:,} "
                     f"out  {cost_text(step['cost_usd'], 0 if step['cost_usd'] is not None else 1)}  LLM "
                     f"{duration_text(step['llm_ms'])}, step {duration_text(step['step_ms'])}  "
                     f"-> {step['stop_reason'] or '-'}")
        lines += [f"    {call['status']:<8} {call['name']}  {duration_text(call['duration_ms'])}"
                  for call in step["tool_calls"]]
    return lines


def run_summary(ws: Workspace, run_id: str) -> RunSummary:
    found = ws.store.list_runs(run_ids=[run_id], limit=1)
    if not found:
        raise NotFound(f"no run '{run_id}'", "see `memos runs list`")
    return found[0]


def run_detail(ws: Workspace, run_id: str) -> dict[str, Any]:
    return run_view(run_summary(ws, run_id), ws.store.list_steps(run_id=run_id, limit=10_000))


def last_run(ws: Workspace, agent: Agent | None) -> str | None:
    found = ws.store.list_runs(agent_id=agent.id if agent else None, limit=1)
    return found[0].run.id if found else None


# -- usage ---------------------------------------------------------------------------------
def cost_text(cost: float | None, unpriced: int) -> str:
    """A cost as people should read it: never a made-up number for calls without a known price."""
    if cost is None:
        return "unknown"
    text = f"${cost:.4f}"
    return text + (f" + {unpriced} call(s) of unknown price" if unpriced else "")


def turn_usage_line(usage: dict[str, Any]) -> str:
    """A turn's usage in one line, as `memos send --usage` and `/usage` print it (like `llm -u`)."""
    cached = f", {usage['cached_tokens']:,} cached" if usage.get("cached_tokens") else ""
    if usage.get("cost_usd") is None:
        cost = f"cost unknown (no price known for {', '.join(usage.get('models') or ['the model'])})"
    else:
        cost = f"${usage['cost_usd']:.6f}"
    return (f"Token usage: {usage['prompt_tokens']:,} input{cached}, {usage['completion_tokens']:,} output "
            f"in {usage['steps']} LLM call(s); {cost}")


def usage_report(ws: Workspace, *, since: datetime | None, agent: Agent | None, model: str | None,
                 by: UsageGroup) -> dict[str, Any]:
    """Totals per group, the agent's turns and the sleep passes apart, and the whole per actor."""
    rows = ws.store.usage(since=since, agent_id=agent.id if agent else None, model=model, by=by)
    totals = ws.store.usage(since=since, agent_id=agent.id if agent else None, model=model) if by != "none" else rows
    return {"since": since, "agent": agent.name if agent else None, "model": model, "by": by,
            "rows": [_usage(r) for r in rows], "totals": [_usage(r) for r in totals]}


def _usage(row: UsageRow) -> dict[str, Any]:
    shaped = asdict(row)
    shaped["cost"] = cost_text(row.cost_usd, row.unpriced_calls) if row.llm_calls > row.unpriced_calls \
        else ("unknown" if row.unpriced_calls else "$0.0000")
    return shaped


# -- the context window --------------------------------------------------------------------
@dataclass(frozen=True)
class ContextPart:
    name: str
    kind: str  # system | block | memory | files | summary | messages | tools
    tokens: int
    detail: str = ""


@dataclass(frozen=True)
class ContextOverview:
    agent: str
    model: str
    window: int
    threshold: float  # summarisation starts when the prompt passes this share of the window
    parts: list[ContextPart] = field(default_factory=list)
    messages: int = 0
    tools: int = 0
    system_prompt: str = ""
    core_memory: str = ""
    summary: str | None = None
    tool_schemas: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(p.tokens for p in self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "model": self.model, "window": self.window, "threshold": self.threshold,
                "summarize_at_tokens": int(self.window * self.threshold), "total_tokens": self.total,
                "used": round(self.total / self.window, 4) if self.window else None, "messages": self.messages,
                "tools": self.tools, "parts": [asdict(p) for p in self.parts]}


def context_overview(ws: Workspace, agent: Agent) -> ContextOverview:
    """What the agent's next prompt holds, in tokens, counted the way the loop counts them."""
    from memos.tools.offered import offered_for

    model = agent.model
    system = agent.system.replace("{agent_name}", agent.name)
    head, sections, tail = block_sections(ws.store, agent)
    compiled = compile_context(ws.store, agent)
    parts = [ContextPart("system prompt", "system", text_tokens(model, system))]
    parts += [ContextPart(label, "block", text_tokens(model, text)) for label, text in sections]
    parts.append(ContextPart("memory metadata", "memory", text_tokens(model, head + "\n" + tail)))
    directories = directories_for(ws.store, agent)
    if directories:
        open_files = sum(f.is_open for f in ws.store.agent_files(agent.id))
        parts.append(ContextPart("files", "files", text_tokens(model, directories), f"{open_files} open"))
    summary = compiled.summary
    if summary is not None:
        parts.append(ContextPart("summary", "summary", text_tokens(model, summary.content),
                                 f"of earlier messages, {summary.created_at:%Y-%m-%d %H:%M}"))
    history = [m for m in compiled.messages[1:]]
    shown = [m for m in compiled.history if not is_summary(m)]
    parts.append(ContextPart("messages", "messages", count_tokens(model, history) if history else 0,
                             f"{len(shown)} in context"))
    schemas = [spec.openai_schema() for spec in offered_for(ws.store, agent).values()]
    schemas += [{"type": "function", "function": record.json_schema}
                for record in ws.store.list_agent_tools(agent.id)]
    parts.append(ContextPart("tool schemas", "tools", text_tokens(model, json.dumps(schemas)),
                             f"{len(schemas)} tools"))
    core = head + "\n" + "\n".join(text for _, text in sections) + "\n" + tail
    return ContextOverview(agent.name, model, agent.context_window, float(ws.config.get("summarize_threshold")),
                           parts, len(shown), len(schemas), system, core,
                           summary.content if summary is not None else None, schemas)


def context_lines(overview: ContextOverview, width: int = 16, name_width: int = 18) -> list[str]:
    """The overview as short lines with a bar each (the TUI's Memory tab shows these)."""
    lines = []
    for part in overview.parts:
        bar = "█" * max(1 if part.tokens else 0, round(width * part.tokens / max(1, overview.total)))
        lines.append(f"{part.name[:name_width]:<{name_width}} {part.tokens:>7,} {bar}")
    lines.append(f"{overview.total:,} of {overview.window:,} tokens ({overview.total / overview.window:.1%})")
    lines.append(f"summarises at {int(overview.window * overview.threshold):,}")
    return lines


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
