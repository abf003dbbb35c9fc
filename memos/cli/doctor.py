"""`memos doctor`: check a home and repair what crashes and kills leave behind."""

from __future__ import annotations

from typing import Annotated

import typer

from memos.cli import output
from memos.cli.common import JsonOpt, workspace

MARKS = {"ok": "ok", "repaired": "repaired", "problem": "PROBLEM"}


def doctor(
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent (default: every agent).")] = None,
    no_repair: Annotated[bool, typer.Option("--no-repair", help="Only check; change nothing.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Check the database, indexes, runs and tool repos; repair what is safe to repair.

    Exit code 0 when everything is ok or repaired, 1 when a problem is left for a person."""
    from memos.core.doctor import examine

    ws = workspace()
    agents = [ws.store.get_agent(agent)] if agent else ws.store.list_agents()
    report = examine(ws, agents, repair=not no_repair)
    if json_out:
        output.emit_json(report)
    else:
        rows = [("", f.check, MARKS[f.status], f.detail) for f in report.home]
        rows += [(a.agent, f.check, MARKS[f.status], f.detail) for a in report.agents for f in a.findings]
        output.table(["agent", "check", "status", "detail"], rows)
    if report.problems:
        output.note(f"{report.problems} problem(s) need a person (see the detail column)")
        raise typer.Exit(1)
