"""Memory consolidation: the agent rethinks its memory blocks from what happened since the
last pass, through the same memory tools (edits recorded with actor `sleep`), and keeps
durable learnings in archival memory. Nothing is added to the conversation log."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from memos.core.context import render_blocks, transcript
from memos.core.llm import LLM
from memos.core.workspace import Workspace
from memos.errors import MemosError
from memos.evolve.budget import BudgetReached
from memos.store.base import Agent, Message
from memos.tools.builtins import ToolContext

SLEEP_TOOLS = ("memory_rethink", "memory_replace", "memory_insert", "archival_memory_insert", "memory_finish_edits")
MAX_STEPS = 6
MAX_TRANSCRIPT_CHARS = 60_000

PROMPT = """You are {name}, a memory-keeping agent, in a sleep-time pass: nobody is chatting now.
Below are your memory blocks and the conversation since your last pass. Consolidate:
rewrite blocks so they hold what is durable and true (memory_rethink, memory_replace,
memory_insert), store lasting learnings worth searching later with archival_memory_insert,
then call memory_finish_edits. Change nothing that needs no change.

{blocks}

Conversation since the last pass:
{transcript}"""


@dataclass
class Consolidation:
    edits: list[str] = field(default_factory=list)  # block labels changed
    learnings: int = 0
    steps: int = 0
    stopped: str | None = None  # why it ended early (the pass's budget)


def consolidate(ws: Workspace, agent: Agent, messages: list[Message], llm: LLM | None = None) -> Consolidation:
    from memos.tools.builtins import builtin_specs

    specs = {name: spec for name, spec in builtin_specs().items() if name in SLEEP_TOOLS}
    tools = [spec.openai_schema() for spec in specs.values()]
    llm = llm or LLM(ws.config)
    text = transcript(messages)[-MAX_TRANSCRIPT_CHARS:]
    ctx = ToolContext(ws.store, agent, actor="sleep")  # its rewrites are compare-and-set against what it read
    conversation: list[dict[str, Any]] = [{"role": "user", "content": PROMPT.format(
        name=agent.name, blocks=render_blocks(ws.store, agent, ctx.seen), transcript=text)}]
    result = Consolidation()
    for _ in range(MAX_STEPS):
        try:
            completion = llm.complete(agent.model, conversation, tools, stream=False)
        except BudgetReached as exc:
            result.stopped = str(exc)  # what was edited so far stays: each edit is its own write
            break
        result.steps += 1
        if not completion.tool_calls:
            break
        conversation.append({"role": "assistant", "content": completion.content or None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in completion.tool_calls]})
        finished = False
        for call in completion.tool_calls:
            output = _run(specs, ctx, call.name, call.arguments)
            if call.name == "archival_memory_insert" and not output.startswith("Error"):
                result.learnings += 1
            finished = finished or call.name == "memory_finish_edits"
            conversation.append({"role": "tool", "tool_call_id": call.id, "content": output})
        if finished:
            break
    result.edits = sorted({edit.after.label for edit in ctx.edits if edit.changed})
    return result


def _run(specs: dict[str, Any], ctx: ToolContext, name: str, raw: str) -> str:
    spec = specs.get(name)
    if spec is None:
        return f"Error: {name} is not available in a sleep-time pass; use {', '.join(specs)}"
    try:
        arguments = json.loads(raw) if raw.strip() else {}
        arguments.pop("request_heartbeat", None)
        value = spec.function(ctx, **arguments)
        return "None" if value is None else str(value)
    except (json.JSONDecodeError, TypeError, AttributeError) as exc:
        return f"Error: bad arguments for {name}: {exc}"
    except MemosError as exc:
        return f"Error: {exc}"
