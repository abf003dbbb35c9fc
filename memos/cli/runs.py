"""`memos runs`: what the agent did, turn by turn: each run with its steps (model, tokens,
cost, LLM time, tool calls with their status and time, stop reason), newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import JsonOpt, workspace

if TYPE_CHECKING:
    from memos.core.workspace import Workspace
    from memos.store.base import Agent

app = typer.Typer(help="Runs (turns and sleep passes) with their steps, tokens, costs and tool calls.")

AgentFilter = Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent's runs (default: all agents).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From this date (ISO, or 7d / 12h ago).")]


def agent_filter(ws: Workspace, name: str | None) -> Agent | None:
    return ws.store.get_agent(name) if name else None


def since_of(raw: str | None) -> Any:
    from memos.core.timeparse import parse_when

    return parse_when(raw) if raw else None


@app.command("list")
def list_runs(
    agent: AgentFilter = None,
    since: SinceOpt = None,
    status: Annotated[str | None, typer.Option(help="completed, cancelled, failed, interrupted or running.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many runs.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Runs, newest first, with their totals."""
    from memos.core.observe import cost_text, duration_text, run_view

    ws = workspace()
    found = ws.store.list_runs(agent_id=(a.id if (a := agent_filter(ws, agent)) else None), since=since_of(since),
                               status=status, limit=limit)
    views = [run_view(s) for s in found]
    if json_out:
        output.emit_json(views)
        return
    output.table(["run", "when", "agent", "by", "status", "steps", "tokens in/out", "cost", "tools", "time"], [
        (v["id"], output.when(v["created_at"]), v["agent"], v["actor"],
         v["status"] + (f" ({v['stop_reason']})" if v["stop_reason"] not in (None, "end_turn") else ""), v["steps"],
         f"{v['prompt_tokens']:,}/{v['completion_tokens']:,}", cost_text(v["cost_usd"], v["unpriced_steps"]),
         f"{v['tool_calls']}" + (f" ({v['tool_errors']} failed)" if v["tool_errors"] else ""),
         duration_text(v["duration_ms"])) for v in views])


@app.command("show")
def show(
    run_id: Annotated[str | None, typer.Argument(help="The run's id (see `memos runs list`).")] = None,
    last: Annotated[bool, typer.Option("--last", help="The newest run (of --agent, or of any agent).")] = False,
    agent: AgentFilter = None,
    json_out: JsonOpt = False,
) -> None:
    """One run, step by step: model, tokens, cost, LLM time, tool calls, stop reason."""
    from memos.core.observe import last_run, run_detail, run_lines
    from memos.errors import InvalidInput, NotFound

    ws = workspace()
    if last == (run_id is not None):
        raise InvalidInput("give a run id or --last (not both)", "see `memos runs list`")
    if last:
        run_id = last_run(ws, agent_filter(ws, agent))
        if run_id is None:
            raise NotFound("no run yet", "send a message first: memos send 'hello'")
    assert run_id is not None
    view = run_detail(ws, run_id)
    if json_out:
        output.emit_json(view)
        return
    output.plain("\n".join(run_lines(view)))
