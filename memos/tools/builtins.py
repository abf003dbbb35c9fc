"""Built-in tools, with Letta's names, arguments and return shapes.

Each takes ``ctx`` (hidden from the model) and returns a string the agent
reads, or None. Errors are raised as `MemosError`; the loop turns them into a
tool error the agent sees, never a crash.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from memos.core import memory
from memos.core.memory import Edit
from memos.core.timeparse import iso_bound
from memos.errors import InvalidInput
from memos.store.base import Agent, CanaryCall, PassageQuery, Store
from memos.tools.registry import ToolSpec, build_spec
from memos.tools.reply import REPLY_TOOL

MAX_RESULTS = 50


@dataclass
class ToolContext:
    store: Store
    agent: Agent
    actor: Literal["agent", "sleep"] = "agent"
    edits: list[Edit] = field(default_factory=list)
    sent_messages: list[str] = field(default_factory=list)
    embed: Callable[[str], Any] | None = None
    # label -> the block version the agent last saw (its prompt, or its own edits since): whole-block
    # rewrites are compare-and-set against it, so they never overwrite an edit the agent has not seen.
    seen: dict[str, int] = field(default_factory=dict)
    call_id: str | None = None  # the model's id of this tool call (a canary routes by it)
    served_commit: str | None = None  # a canaried custom tool: the commit whose code answered
    canary_calls: list[CanaryCall] = field(default_factory=list)  # stored with the step
    # Runs a turn of another agent on a system message and returns what it sent back (the runner
    # gives it; the multi-agent tools use it). None outside an agent's turn.
    converse: Callable[[Agent, str], list[str]] | None = None

    def rewrite_base(self, label: str) -> int | None:
        return self.seen.get(label)


def send_message(ctx: ToolContext, message: str) -> str | None:
    """Sends a message to the human user.

    Args:
        message: Message contents. All unicode (including emojis) are supported.
    """
    ctx.sent_messages.append(message)
    return None


def conversation_search(ctx: ToolContext, query: str | None = None,
                        roles: list[Literal["assistant", "user", "tool"]] | None = None,
                        limit: int | None = None, start_date: str | None = None,
                        end_date: str | None = None) -> str | None:
    """Search prior conversation history, including messages no longer in context.

    Args:
        query: Words to search for. Leave empty to list messages in a date range.
        roles: Only messages from these roles.
        limit: Maximum number of results (default 10).
        start_date: Earliest date, ISO 8601 (e.g. 2026-11-01 or 2026-11-01T09:30).
        end_date: Latest date, ISO 8601; a bare date includes that whole day.
    """
    if not (query and query.strip()) and not start_date and not end_date:
        raise InvalidInput("give a query, or a start_date/end_date range")
    found = ctx.store.search_messages(ctx.agent.id, query, roles=roles or (), start=iso_bound(start_date, "start_date"),
                                      end=iso_bound(end_date, "end_date", end=True),
                                      limit=min(limit or 10, MAX_RESULTS))
    if not found:
        return "No results found."
    results = [{"timestamp": m.created_at.isoformat(), "role": m.role, "content": m.content} for m in found]
    return f"Showing {len(results)} results:\n" + json.dumps(results, ensure_ascii=False)


def archival_memory_insert(ctx: ToolContext, content: str, tags: list[str] | None = None) -> str | None:
    """Add information to long-term archival memory, for later recall with archival_memory_search.

    Args:
        content: Content to write to the memory. Phrase it so it can be found later.
        tags: Optional tags to categorise the memory.
    """
    from memos.core import archival
    from memos.core.ingest import Record

    if not content.strip():
        raise InvalidInput("content is empty")
    archival.insert(ctx.store, ctx.agent, [Record(content.strip(), [t for t in tags or [] if t.strip()])])
    return None


def archival_memory_search(ctx: ToolContext, query: str, tags: list[str] | None = None,
                           tag_match_mode: Literal["any", "all"] = "any", top_k: int | None = None,
                           start_datetime: str | None = None, end_datetime: str | None = None) -> str | None:
    """Search archival memory by meaning and words (hybrid search).

    Args:
        query: What to look for.
        tags: Only passages with these tags.
        tag_match_mode: 'any' tag or 'all' tags must match.
        top_k: Maximum number of results (default 10).
        start_datetime: Earliest creation time, ISO 8601.
        end_datetime: Latest creation time, ISO 8601.
    """
    from memos.core import archival

    hits = archival.search(ctx.store, ctx.agent, PassageQuery(
        text=query, mode="hybrid", tags=tuple(tags or ()), tag_match=tag_match_mode,
        start=iso_bound(start_datetime, "start_datetime"), end=iso_bound(end_datetime, "end_datetime", end=True),
        top_k=min(top_k or 10, MAX_RESULTS)))
    if not hits:
        return "No results found."
    return json.dumps([{"timestamp": h.passage.created_at.isoformat(), "content": h.passage.text,
                        "tags": h.passage.tags} for h in hits], ensure_ascii=False)


def _edited(ctx: ToolContext, edit: Edit) -> str:
    ctx.edits.append(edit)
    block = edit.after
    if ctx.seen.get(block.label) == edit.before.version:
        ctx.seen[block.label] = block.version  # nobody else changed it in between: the agent knows it all
    return (f"The core memory block with label `{block.label}` has been edited "
            f"({len(block.value):,}/{block.limit:,} chars).")


def core_memory_append(ctx: ToolContext, label: str, content: str) -> str | None:
    """Append to the contents of a core memory block.

    Args:
        label: Section of the memory to be edited (e.g. human or persona).
        content: Content to write to the memory.
    """
    return _edited(ctx, memory.append(ctx.store, ctx.agent, label, content, actor=ctx.actor,
                                      reason="core_memory_append"))


def core_memory_replace(ctx: ToolContext, label: str, old_content: str, new_content: str) -> str | None:
    """Replace the contents of a core memory block. To delete memories, use an empty string for new_content.

    Args:
        label: Section of the memory to be edited.
        old_content: String to replace. Must be an exact match.
        new_content: Content to write to the memory.
    """
    return _edited(ctx, memory.replace(ctx.store, ctx.agent, label, old_content, new_content, actor=ctx.actor,
                                       reason="core_memory_replace", replace_all=True))


def memory_replace(ctx: ToolContext, label: str, old_string: str, new_string: str) -> str:
    """Replace one exact, unique piece of text in a memory block.

    Args:
        label: Label of the memory block to edit.
        old_string: The text to replace; it must occur exactly once.
        new_string: The new text (empty to delete).
    """
    return _edited(ctx, memory.replace(ctx.store, ctx.agent, label, old_string, new_string, actor=ctx.actor,
                                       reason="memory_replace"))


def memory_insert(ctx: ToolContext, label: str, new_string: str, insert_line: int = -1) -> str:
    """Insert text at a line of a memory block.

    Args:
        label: Label of the memory block to edit.
        new_string: The text to insert.
        insert_line: Line number to insert before (0 is the top); -1 appends at the end.
    """
    return _edited(ctx, memory.insert_at_line(ctx.store, ctx.agent, label, new_string, insert_line,
                                              actor=ctx.actor, reason="memory_insert"))


def memory_rethink(ctx: ToolContext, label: str, new_memory: str) -> str:
    """Rewrite a whole memory block, to reorganise or condense it.

    Args:
        label: Label of the memory block to rewrite.
        new_memory: The complete new contents of the block.
    """
    return _rewrite(ctx, label, lambda base: memory.set_value(
        ctx.store, ctx.agent, label, new_memory, actor=ctx.actor, reason="memory_rethink", expect_version=base))


def _rewrite(ctx: ToolContext, label: str, edit: Callable[[int | None], Edit]) -> str:
    """A whole-block rewrite, compare-and-set against the version the agent saw. On a conflict the
    agent is shown the current value (and has then seen it), so it can redo the edit."""
    from memos.errors import EditConflict

    try:
        return _edited(ctx, edit(ctx.rewrite_base(label)))
    except EditConflict:
        ctx.seen[label] = ctx.store.get_agent_block(ctx.agent.id, label).version
        raise


def apply_patch_text(value: str, patch: str) -> str:
    """Apply a simplified unified diff (hunks of ' ', '-', '+' lines) to ``value``, line by line.

    A hunk's context and removed lines must occur exactly once as whole lines of the block; an
    empty line in a hunk is a blank context line (models often drop its leading space). A hunk
    with only added lines appends them."""
    hunks: list[list[str]] = []
    for line in patch.splitlines():
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@") or not hunks:
            hunks.append([])
            if line.startswith("@@"):
                continue
        hunks[-1].append(line if line else " ")
    lines = value.split("\n") if value else []
    for number, hunk in enumerate([h for h in hunks if h], start=1):
        if any(line[:1] not in (" ", "-", "+") for line in hunk):
            raise InvalidInput(f"hunk {number}: every line must start with ' ', '-' or '+'")
        old = [line[1:] for line in hunk if line[:1] in (" ", "-")]
        new = [line[1:] for line in hunk if line[:1] in (" ", "+")]
        if not old:
            lines.extend(new)
            continue
        starts = [i for i in range(len(lines) - len(old) + 1) if lines[i:i + len(old)] == old]
        if len(starts) != 1:
            raise InvalidInput(f"hunk {number}: its context and removed lines occur {len(starts)} times in the "
                               "block as whole lines; they must occur exactly once")
        at = starts[0]
        lines[at:at + len(old)] = new
    return "\n".join(lines)


def memory_apply_patch(ctx: ToolContext, label: str, patch: str) -> str:
    """Edit a memory block with a simplified unified diff.

    Args:
        label: Label of the memory block to edit.
        patch: Hunks whose lines start with ' ' (context), '-' (remove) or '+' (add), separated by '@@' lines.
    """
    return _rewrite(ctx, label, lambda base: memory.transform(
        ctx.store, ctx.agent, label, lambda value: apply_patch_text(value, patch), actor=ctx.actor,
        reason="memory_apply_patch", expect_version=base))


def memory_finish_edits(ctx: ToolContext) -> str | None:
    """Call when you have finished editing memory, to end the run of memory edits."""
    return None


BUILTINS: list[Callable[..., Any]] = [
    send_message, conversation_search, archival_memory_insert, archival_memory_search, core_memory_append,
    core_memory_replace, memory_insert, memory_replace, memory_rethink, memory_apply_patch, memory_finish_edits,
]
DEFAULT_TOOLS = [f.__name__ for f in BUILTINS if f is not memory_finish_edits]
TERMINAL_TOOLS = {REPLY_TOOL, "memory_finish_edits"}


@functools.cache
def _builtin_specs() -> tuple[ToolSpec, ...]:
    return tuple(build_spec(f) for f in BUILTINS)


def builtin_specs() -> dict[str, ToolSpec]:
    """The built-in tools' specs, built once per process (~1 ms of signature parsing each time)."""
    return {spec.name: spec for spec in _builtin_specs()}
