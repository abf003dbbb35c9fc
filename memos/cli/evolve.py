"""`memos evolve`: the sleep-time pass (`--sleep`, for cron) and the review of its proposals."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, YesOpt, confirm, workspace

if TYPE_CHECKING:
    from memos.core.workspace import Workspace
    from memos.store.base import Evolution

app = typer.Typer(help="Sleep-time self-evolution: consolidate memory and improve tool code, reviewably.",
                  invoke_without_command=True,
                  epilog="memos evolve --sleep exits 0 when there was nothing to do, 10 when it made changes, "
                         "11 when a proposal awaits review, 12 when another pass is running, 1 on an error.")

IdArg = Annotated[str, typer.Argument(help="Evolution id (or a unique prefix of it).")]


@app.callback()
def evolve(
    ctx: typer.Context,
    sleep: Annotated[bool, typer.Option("--sleep", help="Run a sleep-time pass (made for cron).")] = False,
    agent: AgentOpt = None,
    all_agents: Annotated[bool, typer.Option("--all", help="Every agent (the default when none is chosen).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what the pass would do; change nothing.")] = False,
    policy: Annotated[str | None, typer.Option("--policy", help="review, auto or off (default: config evolve.policy).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Exit codes of --sleep: 0 nothing to do, 10 changes made, 11 a proposal awaits review,
    12 another pass is running, 1 error."""
    if ctx.invoked_subcommand is not None:
        return
    if not sleep:
        output.plain(ctx.get_help())
        raise typer.Exit(2)
    from memos.core.config import SETTINGS
    from memos.evolve.sleep import run_pass

    ws = workspace()
    if policy is not None:
        policy = SETTINGS["evolve.policy"].parse(policy)
    agents = [ws.store.get_agent(agent)] if agent and not all_agents else ws.store.list_agents()
    report = run_pass(ws, agents, dry_run=dry_run, policy=policy)
    if json_out:
        output.emit_json({"exit_code": report.exit_code, "dry_run": dry_run, "agents": report.outcomes})
    else:
        for o in report.outcomes:
            parts = [f"{o.agent}: {o.status}"]
            if o.consolidated:
                parts.append(f"memory: {', '.join(o.consolidated)} rethought")
            if o.learnings:
                parts.append(f"{o.learnings} learning(s) archived")
            if o.evolution and o.status != "no_change":
                parts.append(f"evolution {o.evolution}")
            if o.detail:
                parts.append(o.detail)
            output.plain("; ".join(parts))
            for line in o.recovered:
                output.note(f"{o.agent}: {line}")
    raise typer.Exit(report.exit_code)


def _row(e: Evolution, ws: Workspace) -> dict[str, Any]:
    agent = ws.store.get_agent(e.agent_id).name
    shadow = e.shadow_report or {}
    return {"id": e.id, "agent": agent, "status": e.status, "title": e.title, "branch": e.branch,
            "tests": None if e.test_report is None else ("passed" if e.test_report.get("passed") else "failed"),
            "shadow": None if not shadow else {k: shadow.get(k) for k in (
                "replayed", "errors_fixed", "errors_introduced", "outputs_changed")},
            "utility": (e.utility or {}).get("score"), "usage": e.usage, "reason": e.reason,
            "canary": None if not e.canary else {k: e.canary.get(k) for k in (
                "mode", "share", "tools", "started_at", "ended_at")},
            "decided_by": e.decided_by, "created_at": e.created_at, "updated_at": e.updated_at}


def _spent(usage: dict[str, Any] | None) -> str:
    if not usage or not usage.get("llm_calls"):
        return "-"
    cost = usage.get("cost_usd")
    return f"{usage['tokens']:,} tok" + ("" if cost is None else f" ${cost:.4f}")


def _evolutions(agent: str | None, everything: bool) -> tuple[Workspace, list[Evolution]]:
    ws = workspace()
    agent_id = ws.store.get_agent(agent).id if agent else None
    rows = ws.store.list_evolutions(agent_id)
    if not everything:
        rows = [e for e in rows if e.status != "no_change"]
    return ws, rows


@app.command("list")
def list_evolutions(agent: AgentOpt = None, json_out: JsonOpt = False,
                    everything: Annotated[bool, typer.Option("--all", help="Include passes that proposed nothing.")] = False) -> None:
    """Evolutions, newest first, with their status and checks."""
    ws, rows = _evolutions(agent, everything)
    shaped = [_row(e, ws) for e in rows]
    if json_out:
        output.emit_json(shaped)
        return
    from memos.evolve.checks import describe_shadow

    output.table(["id", "agent", "status", "tests", "shadow", "title"], [
        (r["id"], r["agent"], r["status"], r["tests"] or "-",
         describe_shadow(r["shadow"], short=True),
         output.shorten(r["title"], 50)) for r in shaped])


@app.command("log")
def log(agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """The history of decisions, oldest first: what changed, who decided, when."""
    ws, rows = _evolutions(agent, False)
    shaped = [_row(e, ws) for e in reversed(rows)]
    if json_out:
        output.emit_json(shaped)
        return
    for r in shaped:
        output.plain(f"{output.when(r['updated_at'])}  {r['agent']}  {r['status']:<12} by {r['decided_by'] or '-':<8} "
                     f"{r['title']}  ({r['id']}; spent {_spent(r['usage'])})"
                     + (f"\n    canary from {r['canary']['started_at']}" if r["canary"] else "")
                     + (f" to {r['canary']['ended_at']}" if r["canary"] and r["canary"].get("ended_at") else "")
                     + (f"\n    {r['reason']}" if r["reason"] else ""))


@app.command("show")
def show(evolution_id: IdArg, json_out: JsonOpt = False) -> None:
    """One evolution: why, its branch and commits, and the check reports."""
    ws = workspace()
    e = ws.store.get_evolution(evolution_id)
    if json_out:
        output.emit_json({**_row(e, ws), "rationale": e.rationale, "base_commit": e.base_commit,
                          "head_commit": e.head_commit, "test_report": e.test_report, "shadow_report": e.shadow_report,
                          "stages": e.stages, "utility": e.utility, "canary": e.canary})
        return
    row = _row(e, ws)
    output.plain(f"{e.title}\n{e.id}  agent {row['agent']}  {e.status}  branch {e.branch or '-'}\n")
    output.plain(f"why: {e.rationale or '-'}")
    if e.reason:
        output.plain(f"decision: {e.reason} (by {e.decided_by or '-'})")
    for stage in e.stages or []:
        output.plain(f"stage {stage['stage']}: {stage['status']}: {stage['summary']}")
    if e.utility:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:+g}" for k, v in e.utility.get("parts", {}).items() if v)
        output.plain(f"utility: {e.utility['score']:+.2f} (threshold {e.utility.get('threshold', 0):+.2f}; "
                     f"{parts or 'no part counted'})")
    if e.usage and e.usage.get("llm_calls"):
        output.plain(f"spent: {_spent(e.usage)} in {e.usage['llm_calls']} LLM call(s) "
                     f"(budget {e.usage.get('budget_tokens', 0):,} tokens)")
    if e.canary:
        c = e.canary
        ended = f", ended {c['ended_at']}" if c.get("ended_at") else ""
        output.plain(f"canary: {c.get('mode')} {c.get('share', 0):.0%} of {', '.join(c.get('tools', []))}, "
                     f"started {c.get('started_at')}{ended}")
    if e.test_report:
        output.plain(f"tests: {'passed' if e.test_report.get('passed') else 'FAILED'}: {e.test_report.get('summary')}")
    if e.shadow_report:
        from memos.evolve.checks import describe_shadow

        s = e.shadow_report
        output.plain(f"{describe_shadow(s)}, {s['same']} the same; {s['old_ms']} ms -> {s['new_ms']} ms")
        for call in s["calls"]:
            if call["outcome"] != "same":
                output.plain(f"  {call['outcome']}: {call['tool']}({call['arguments']}) "
                             f"{output.shorten(call['old'], 60)!r} -> {output.shorten(call['new'], 60)!r}")


@app.command("diff")
def diff(evolution_id: IdArg, json_out: JsonOpt = False) -> None:
    """The change, as a git diff (highlighted on a terminal)."""
    from memos.evolve import branches
    from memos.tools.shared_code import tool_repo

    ws = workspace()
    e = ws.store.get_evolution(evolution_id)
    if not e.base_commit or not e.head_commit:
        from memos.errors import InvalidInput

        raise InvalidInput(f"evolution {e.id} has no commit", "it stopped before committing a change")
    repo = tool_repo(ws, ws.store.get_agent(e.agent_id))
    text = branches.diff(repo, e.base_commit, e.head_commit)
    if json_out:
        output.emit_json({"id": e.id, "base_commit": e.base_commit, "head_commit": e.head_commit,
                          "files": branches.changed_paths(repo, e.base_commit, e.head_commit), "diff": text})
        return
    if output.is_terminal(sys.stdout):
        from rich.syntax import Syntax

        output.out().print(Syntax(text, "diff", theme="ansi_dark", background_color="default"))
    else:
        output.plain(text)


@app.command("test")
def test(evolution_id: IdArg, json_out: JsonOpt = False) -> None:
    """Run the checks again (tests, then shadow replay) and store the new reports."""
    from memos.evolve.review import recheck

    ws = workspace()
    updated, result = recheck(ws, ws.store.get_evolution(evolution_id))
    if json_out:
        output.emit_json({"id": updated.id, **result.reports()})
        return
    from memos.evolve.checks import describe_shadow

    shadow = result.shadow.to_dict()
    output.plain(f"tests: {'passed' if result.tests.passed else 'FAILED'}: {result.tests.summary}")
    output.plain(describe_shadow(shadow))
    if not result.tests.passed:
        raise typer.Exit(1)


def _decide(evolution_id: str, yes: bool, json_out: bool, question: str, action: str) -> None:
    """Confirm, then accept / reject / roll back through the same core calls the pass uses."""
    from memos.evolve import review

    ws = workspace()
    e = ws.store.get_evolution(evolution_id)
    confirm(question.format(title=e.title, branch=e.branch), yes)
    done = {"accept": review.accept, "reject": review.reject, "rollback": review.rollback,
            "promote": review.promote}[action](ws, e)
    _report(done, ws, json_out, f"{done.status.replace('_', ' ')}: {done.title}")


@app.command("accept")
def accept(evolution_id: IdArg, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """Accept a pending evolution: a canary first when it changes existing tools (see `evolve
    status`), else merged at once (refused if the tools moved in a conflicting way)."""
    _decide(evolution_id, yes, json_out, "Accept evolution '{title}' for the tools of its agent?", "accept")


@app.command("reject")
def reject(evolution_id: IdArg, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """Reject a pending evolution (its branch stays, in the archive of attempts)."""
    _decide(evolution_id, yes, json_out, "Reject evolution '{title}'?", "reject")


@app.command("rollback")
def rollback(evolution_id: IdArg, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """End a canary (the old code answers every call again), or undo an accepted evolution with
    a new commit (history is kept)."""
    _decide(evolution_id, yes, json_out, "Roll back evolution '{title}'?", "rollback")


@app.command("promote")
def promote(evolution_id: IdArg, yes: YesOpt = False, json_out: JsonOpt = False) -> None:
    """Merge a canary into the tools now: every call runs the new code."""
    _decide(evolution_id, yes, json_out, "Promote canary '{title}' to every call?", "promote")


@app.command("status")
def status(agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """Canaries in flight: calls per version, error rates with their margins, p95 times, and
    what the monitor will do next."""
    from memos.evolve.canary import status as canary_status
    from memos.evolve.canary import status_lines

    ws = workspace()
    rows = canary_status(ws, ws.store.get_agent(agent).id if agent else None)
    if json_out:
        output.emit_json(rows)
        return
    if not rows:
        output.note("no canary in flight")
        return
    for r in rows:
        serving = f"split {r['share']:.0%}" if r["mode"] == "split" else "shadow"
        output.plain(f"{r['id']}  {r['agent']}  {r['title']}  ({serving}; {', '.join(r['tools'])})")
        for line in status_lines(r):
            output.plain(f"  {line}")



def _report(e: Evolution, ws: Workspace, json_out: bool, line: str) -> None:
    if json_out:
        output.emit_json(_row(e, ws))
    else:
        output.note(line)
