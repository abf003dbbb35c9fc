"""`memos schedule`: messages sent to an agent at a time or on a cron expression.

`memos serve` sends them when they fall due; without a server, run `memos schedule run` from
cron (every minute, say): each due time is sent once, whichever process claims it first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, YesOpt, agent_and_workspace, confirm, workspace

if TYPE_CHECKING:
    from memos.core.schedules import ScheduleOutcome
    from memos.store.base import Schedule, ScheduledRun

app = typer.Typer(help="Messages sent to an agent at a time or on a cron expression.", no_args_is_help=True)


def _view(schedule: Schedule, agent_name: str | None = None) -> dict[str, Any]:
    from memos.core.schedules import message_text

    return {"id": schedule.id, "agent_id": schedule.agent_id, "agent": agent_name,
            "cron_expression": schedule.cron_expression, "time_zone": schedule.time_zone,
            "scheduled_at": schedule.scheduled_at, "next_run_at": schedule.next_run_at,
            "message": "\n\n".join(message_text(m) for m in schedule.messages), "created_at": schedule.created_at}


def _run_view(run: ScheduledRun) -> dict[str, Any]:
    return {"schedule_id": run.schedule_id, "due_at": run.due_at, "agent_id": run.agent_id, "status": run.status,
            "run_id": run.run_id, "claimed_by": run.claimed_by, "claimed_at": run.claimed_at, "detail": run.detail}


@app.command("add")
def add(
    when: Annotated[str, typer.Argument(help="A cron expression ('0 8 * * *': eight every morning) or one time "
                                             "('2026-12-24T09:00', 'in 2h', '30m').")],
    message: Annotated[str, typer.Argument(help="What to send ('-': read it from stdin).")],
    agent: AgentOpt = None,
    time_zone: Annotated[str | None, typer.Option("--tz", help="The time zone WHEN is read in (default: this "
                                                                "machine's).")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", min=1, help="Stop each turn after this many "
                                                                              "LLM calls.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Schedule a message to the agent."""
    from memos.cli.inputs import read_value
    from memos.core.schedules import add_schedule, timing_from_text

    ws, current = agent_and_workspace(agent)
    text = read_value(message, what="message")
    made = add_schedule(ws, current, timing_from_text(when, time_zone), [{"role": "user", "content": text}],
                        {"max_steps": max_steps} if max_steps else {})
    if json_out:
        output.emit_json(_view(made, current.name))
        return
    assert made.next_run_at is not None
    every = f"on '{made.cron_expression}' ({made.time_zone}), " if made.cron_expression else ""
    output.note(f"scheduled for agent '{current.name}': {every}next {output.when(made.next_run_at)} ({made.id})")


@app.command("list")
def list_schedules(
    agent: Annotated[str | None, typer.Option("--agent", "-a", help="Only this agent's (default: every agent's).")] = None,
    runs: Annotated[bool, typer.Option("--runs", help="List the due times that were sent, newest first.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Scheduled messages, or with --runs what was sent and how it ended."""
    ws = workspace()
    names = {a.id: a.name for a in ws.store.list_agents()}
    only = ws.store.get_agent(agent).id if agent else None
    if runs:
        found_runs = [r for r in ws.store.scheduled_runs() if only is None or r.agent_id == only]
        if json_out:
            output.emit_json([_run_view(r) for r in found_runs])
            return
        output.table(["due", "agent", "status", "run", "schedule", "detail"], [
            (output.when(r.due_at), names.get(r.agent_id, r.agent_id), r.status, r.run_id or "", r.schedule_id,
             output.shorten(r.detail or "", 40)) for r in found_runs])
        return
    found = ws.store.list_schedules(only)
    if json_out:
        output.emit_json([_view(s, names.get(s.agent_id)) for s in found])
        return
    output.table(["id", "agent", "when", "next", "message"], [
        (s.id, names.get(s.agent_id, s.agent_id), f"{s.cron_expression} ({s.time_zone})" if s.cron_expression else "once",
         output.when(s.next_run_at) if s.next_run_at else "sent", output.shorten(_view(s)["message"], 40))
        for s in found])


@app.command("rm")
def remove(
    schedule_id: Annotated[str, typer.Argument(help="The schedule's id (see `memos schedule list`).")],
    yes: YesOpt = False,
) -> None:
    """Delete a scheduled message (what it already sent stays in the agent's log)."""
    ws = workspace()
    found = ws.store.get_schedule(schedule_id)
    confirm(f"delete scheduled message {found.id}?", yes)
    ws.store.delete_schedule(found.id)
    output.note(f"deleted scheduled message {found.id}")


@app.command("run")
def run(json_out: JsonOpt = False) -> None:
    """Send every scheduled message that is due now, then exit (for cron: `* * * * * memos schedule
    run`). Each due time is sent once, even with several processes or a server running too."""
    from memos.core.schedules import run_due

    ws = workspace()
    outcomes = run_due(ws)
    if json_out:
        output.emit_json([_outcome_view(o) for o in outcomes])
    else:
        for outcome in outcomes:
            if outcome.status == "completed":
                output.note(f"sent {outcome.schedule.id} (due {output.when(outcome.due_at)}): run {outcome.run_id}")
            else:
                output.warn(f"{outcome.schedule.id} (due {output.when(outcome.due_at)}) failed: {outcome.detail}")
    if any(o.status != "completed" for o in outcomes):
        raise typer.Exit(1)


def _outcome_view(outcome: ScheduleOutcome) -> dict[str, Any]:
    return {"schedule_id": outcome.schedule.id, "agent_id": outcome.schedule.agent_id, "due_at": outcome.due_at,
            "status": outcome.status, "run_id": outcome.run_id, "reply": outcome.reply, "detail": outcome.detail}
