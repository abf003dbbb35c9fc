"""`memos send`, `memos approve`, `memos deny`: one turn of the agent, for people and pipelines.

stdout gets the assistant's reply and nothing else (or JSON with --json, or
one JSON event per line with --jsonl). Exit codes: 0 ok, 1 error, 2 usage,
3 approval needed, 75 the agent is busy with another turn and --no-wait was given,
130 interrupted (the partial reply is still printed). A turn waits for any other turn of
the same agent (another pipeline, a chat, the server) and says so on stderr after a second.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, agent_and_workspace
from memos.core.limits import DEFAULT_MAX_STEPS
from memos.tools.reply import REPLY_TOOL

if TYPE_CHECKING:
    from memos.core.agent import AgentRunner

EXIT_APPROVAL = 3
EXIT_INTERRUPTED = 130

ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model for this turn (default: MEMOS_MODEL, then the agent's).")]
JsonlOpt = Annotated[bool, typer.Option("--jsonl", help="Stream events as JSON lines.")]
MaxStepsOpt = Annotated[int, typer.Option("--max-steps", min=1, help="Stop after this many LLM calls.")]
NoWaitOpt = Annotated[bool, typer.Option(
    "--no-wait", help="If the agent is busy with another turn, exit at once with code 75 instead of waiting.")]


ConversationOpt = Annotated[str | None, typer.Option(
    "--conversation", "-c", help="One of the agent's conversations, by name or id (a new name starts one; "
    "default: the agent's own). See `memos conversations`.")]


def _runner(agent: str | None, model: str | None, max_steps: int, no_wait: bool = False,
            conversation: str | None = None, create: bool = True) -> AgentRunner:
    from memos.core.agent import AgentRunner
    from memos.core.conversations import open_conversation
    from memos.tools.custom import custom_tools_for

    ws, current = agent_and_workspace(agent)
    thread, created = open_conversation(ws.store, current, conversation, create=create)
    if created:
        output.note(f"started conversation '{conversation}' of agent '{current.name}'")
    tools, warnings = custom_tools_for(ws, current)
    for warning in warnings:
        output.warn(warning)
    return AgentRunner(ws, current, model=model or os.environ.get("MEMOS_MODEL") or None, max_steps=max_steps,
                       custom_tools=tools, turn_wait=0 if no_wait else None, conversation=thread)


@contextmanager
def _closing(runner: AgentRunner) -> Iterator[None]:
    """Close the custom tools when the turn ends, however it ends: a shadowed canary call still
    comparing in the background is waited for and recorded, and the sandbox workers stop. A turn
    that ran to a stop (whatever its exit code) counts toward a sleep-time review."""
    from memos.core.reviews import start_reviews

    try:
        yield
    except typer.Exit:
        start_reviews(runner)
        raise
    else:
        start_reviews(runner)
    finally:
        if runner.custom_tools is not None:
            runner.custom_tools.close()


def _describe(event: Any) -> str | None:
    kind = event.type
    if kind == "tool_call" and event.name != REPLY_TOOL:  # the reply itself is on stdout already
        args = event.arguments if isinstance(event.arguments, str) else json.dumps(event.arguments, ensure_ascii=False)
        return f"→ {event.name}({output.shorten(args, 100)})"
    if kind == "tool_return" and event.status == "error":
        return f"  {event.name} failed: {output.shorten(event.result or '', 120)}"
    if kind == "memory_edit":
        return f"  memory '{event.label}' edited (version {event.version})"
    if kind == "summary":
        return f"  summarised {event.evicted} older messages"
    return None


UsageOpt = Annotated[bool, typer.Option("--usage", "-u", help="Print the turn's tokens and cost on stderr.")]


def drive(events: Iterator[Any], cancel: threading.Event, *, json_out: bool, jsonl: bool,
          usage: bool = False) -> None:
    """Consume a turn's events, render them, and exit with the code the stop reason calls for."""
    from memos.core.events import TurnResult, consume
    from memos.core.reply_stream import with_reply_text
    from memos.errors import MemosError

    if not jsonl:  # --jsonl keeps the loop's own events; on a terminal a send_message reply streams
        events = with_reply_text(events)
    turn = TurnResult()
    live = output.is_terminal(sys.stderr) and not (json_out or jsonl)
    streamed = False

    def handle(event: Any) -> None:
        nonlocal streamed
        if event.type not in ("assistant_delta", "tool_call_delta", "reasoning_delta"):
            turn.events.append(event)
        if jsonl:
            sys.stdout.write(json.dumps(output.jsonable(event), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return
        if event.type == "warning" and not json_out:
            output.warn(event.message)
        if event.type == "waiting":
            output.note(f"waiting for agent {event.agent}" + (f" (busy in {event.holder})" if event.holder else ""))
        if live and (line := _describe(event)):
            output.err().print(line, style="dim", markup=False)
        if event.type == "assistant_delta" and not json_out and sys.stdout.isatty():
            sys.stdout.write(event.text)
            sys.stdout.flush()
            streamed = True

    try:
        if consume(events, cancel, handle) and (turn.stop is None):
            turn.events.append(_interrupted())
    except MemosError as exc:
        if json_out:  # a failed turn still answers in JSON on stdout (the error line goes to stderr)
            _emit_turn_json(turn, error=str(exc))
        raise
    stop = turn.stop
    if json_out:
        _emit_turn_json(turn)
    elif not jsonl and turn.reply:
        if streamed:
            sys.stdout.write("\n")
        else:
            output.plain(turn.reply)
    if usage:
        from memos.core.observe import turn_usage_line

        output.note(turn_usage_line(turn.usage))
    reason = stop.reason if stop else "cancelled"
    if reason == "requires_approval":
        pending = [e for e in turn.events if e.type == "approval_request"]
        name = pending[-1].name if pending else "a tool"
        output.note(f"waiting for approval of {name}: run `memos approve` or `memos deny --reason ...`")
        raise typer.Exit(EXIT_APPROVAL)
    if reason == "cancelled":
        output.note("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED)
    if reason == "max_steps":
        output.warn(f"stopped after {stop.steps if stop else '?'} steps (--max-steps) before the agent finished")
    if reason == "error":
        raise typer.Exit(1)


def _emit_turn_json(turn: Any, error: str | None = None) -> None:
    stop = turn.stop
    document = {"messages": [e for e in turn.events if e.type not in ("stop_reason", "usage", "run_started",
                                                                        "step_started", "error")],
                "stop_reason": "error" if error else (stop.reason if stop else None),
                "run_id": stop.run_id if stop else None, "usage": turn.usage}
    if error:
        document["error"] = error
    output.emit_json(document)


def _interrupted() -> Any:
    from memos.core.events import Stop

    return Stop("cancelled", 0, "")


def send(
    text: Annotated[str | None, typer.Argument(help="The message; '-' or a pipe reads stdin.")] = None,
    agent: AgentOpt = None,
    conversation: ConversationOpt = None,
    model: ModelOpt = None,
    max_steps: MaxStepsOpt = DEFAULT_MAX_STEPS,
    json_out: JsonOpt = False,
    jsonl: JsonlOpt = False,
    no_wait: NoWaitOpt = False,
    usage: UsageOpt = False,
) -> None:
    """Send one message; print the reply."""
    from memos.cli.inputs import read_stdin, stdin_is_piped
    from memos.errors import InvalidInput

    if text == "-" or (text is None and stdin_is_piped()):
        text = read_stdin()
    if text is None:
        raise InvalidInput("no message given", "pass the text as an argument or pipe it on stdin")
    runner = _runner(agent, model, max_steps, no_wait, conversation)
    cancel = threading.Event()
    with _closing(runner):
        drive(runner.send(text, cancel), cancel, json_out=json_out, jsonl=jsonl, usage=usage)


def approve(
    agent: AgentOpt = None,
    conversation: ConversationOpt = None,
    model: ModelOpt = None,
    max_steps: MaxStepsOpt = DEFAULT_MAX_STEPS,
    list_only: Annotated[bool, typer.Option("--list", help="Only list what waits for approval.")] = False,
    json_out: JsonOpt = False,
    jsonl: JsonlOpt = False,
    no_wait: NoWaitOpt = False,
    usage: UsageOpt = False,
) -> None:
    """Approve the tool call the agent waits on, and continue."""
    runner = _runner(agent, model, max_steps, no_wait, conversation, create=False)
    if list_only:
        pending = runner.ws.store.pending_tool_calls(runner.agent.id, runner.conversation_id)
        if json_out:
            output.emit_json(pending)
        else:
            output.table(["tool", "arguments", "id"], [(p.name, output.shorten(str(p.arguments), 80), p.tool_call_id)
                                                         for p in pending])
        return
    cancel = threading.Event()
    with _closing(runner):
        drive(runner.approve(cancel), cancel, json_out=json_out, jsonl=jsonl, usage=usage)


def deny(
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (the agent sees it).")] = "",
    agent: AgentOpt = None,
    conversation: ConversationOpt = None,
    model: ModelOpt = None,
    max_steps: MaxStepsOpt = DEFAULT_MAX_STEPS,
    json_out: JsonOpt = False,
    jsonl: JsonlOpt = False,
    no_wait: NoWaitOpt = False,
    usage: UsageOpt = False,
) -> None:
    """Deny the tool call the agent waits on (it sees why)."""
    runner = _runner(agent, model, max_steps, no_wait, conversation, create=False)
    cancel = threading.Event()
    with _closing(runner):
        drive(runner.deny(reason, cancel), cancel, json_out=json_out, jsonl=jsonl, usage=usage)
