"""`memos usage` (tokens, cost, calls and step times over a period) and `memos context`
(what the next prompt holds, in tokens)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, agent_and_workspace, workspace
from memos.cli.runs import AgentFilter, SinceOpt, agent_filter, since_of


class By(str, Enum):
    day = "day"
    agent = "agent"
    model = "model"


def usage(
    agent: AgentFilter = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this model.")] = None,
    since: SinceOpt = None,
    by: Annotated[By | None, typer.Option("--by", help="One row per day, agent or model.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Tokens and cost (litellm's local price list; an unknown price is shown as unknown), LLM
    calls, tool calls, errors and step times; the agents' turns and the sleep passes apart."""
    from memos.core.observe import usage_report

    ws = workspace()
    report = usage_report(ws, since=since_of(since), agent=agent_filter(ws, agent), model=model,
                          by=by.value if by else "none")
    if json_out:
        output.emit_json(report)
        return
    rows = report["rows"]
    if not rows:
        output.note("no LLM call recorded" + (" in that period" if since else ""))
        return
    head = [by.value] if by else []
    output.table([*head, "by", "LLM calls", "tokens in", "cached", "tokens out", "cost", "tool calls", "errors",
                  "step p50", "step p95"], [
        ([r["key"]] if by else []) + [r["actor"], r["llm_calls"], f"{r['prompt_tokens']:,}", f"{r['cached_tokens']:,}",
                                      f"{r['completion_tokens']:,}", r["cost"], r["tool_calls"], r["tool_errors"],
                                      _ms(r["step_p50_ms"]), _ms(r["step_p95_ms"])] for r in rows])
    if by:
        for total in report["totals"]:
            output.note(f"total ({total['actor']}): {total['llm_calls']} LLM calls, {total['prompt_tokens']:,} in, "
                        f"{total['completion_tokens']:,} out, {total['cost']}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def context(agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """What the agent's next prompt holds, in tokens: system prompt, each memory block, summary,
    messages, tool schemas; against the window and the summarisation threshold."""
    from memos.core.observe import context_overview

    ws, current = agent_and_workspace(agent)
    overview = context_overview(ws, current)
    shaped = overview.to_dict()
    if json_out:
        output.emit_json(shaped)
        return
    width = 30
    output.table(["part", "tokens", "share", "", "detail"], [
        (p["name"] if p["kind"] != "block" else f"block {p['name']}", f"{p['tokens']:,}",
         f"{p['tokens'] / overview.window:.1%}", "█" * max(0, round(width * p["tokens"] / overview.window)),
         p["detail"]) for p in shaped["parts"]])
    used = round(width * overview.total / overview.window)
    mark = round(width * overview.threshold)
    bar = "".join("█" if i < used else ("|" if i == mark else "·") for i in range(width))
    output.plain(f"{overview.total:,} of {overview.window:,} tokens ({shaped['used']:.1%})  [{bar}]  "
                 f"summarises at {shaped['summarize_at_tokens']:,} ({overview.threshold:.0%})")
