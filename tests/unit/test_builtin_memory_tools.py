"""Every built-in memory tool, called as the agent loop calls it (a ToolContext on a real store)."""

from __future__ import annotations

import pytest

from memos.core import memory
from memos.errors import EditConflict, InvalidInput, LimitExceeded, NotFound, ReadOnly
from memos.tools import builtins
from memos.tools.builtins import ToolContext, apply_patch_text


@pytest.fixture
def ctx(workspace, agent) -> ToolContext:
    memory.set_value(workspace.store, agent, "human", "a\nb\nc")
    return ToolContext(workspace.store, agent)


def value(ctx: ToolContext, label: str = "human") -> str:
    return ctx.store.get_agent_block(ctx.agent.id, label).value


def test_apply_patch_works_on_whole_lines():
    assert apply_patch_text("a\nb\nc", "-b") == "a\nc"  # not "a\n\nc": a line goes, not a substring
    assert apply_patch_text("a\nbb\nb", "-b") == "a\nbb"  # "b" is a whole line once, though a substring twice
    assert apply_patch_text("a\n\nc", " a\n\n-c\n+d") == "a\n\nd"  # blank context without its space
    assert apply_patch_text("x", "+y") == "x\ny"
    assert apply_patch_text("", "+first") == "first"
    with pytest.raises(InvalidInput, match="occur 2 times"):
        apply_patch_text("b\nb", "-b")
    with pytest.raises(InvalidInput, match="occur 0 times"):
        apply_patch_text("a", "-z")
    with pytest.raises(InvalidInput, match="must start with"):
        apply_patch_text("a", "-a\n*b")


def test_memory_apply_patch_edits_and_records(ctx):
    result = builtins.memory_apply_patch(ctx, "human", "@@\n a\n-b\n+B\n c")
    assert "has been edited" in result and value(ctx) == "a\nB\nc"
    assert ctx.edits[-1].after.version == ctx.edits[-1].before.version + 1
    assert memory.history(ctx.store, ctx.agent, "human")[-1].reason == "memory_apply_patch"


def test_memory_insert_replace_and_rethink(ctx):
    builtins.memory_insert(ctx, "human", "top", insert_line=0)
    builtins.memory_insert(ctx, "human", "end")
    assert value(ctx) == "top\na\nb\nc\nend"
    with pytest.raises(InvalidInput, match="outside block"):
        builtins.memory_insert(ctx, "human", "x", insert_line=99)
    builtins.memory_replace(ctx, "human", "top\n", "")
    assert value(ctx) == "a\nb\nc\nend"
    with pytest.raises(NotFound):
        builtins.memory_replace(ctx, "human", "zzz", "y")
    builtins.memory_rethink(ctx, "human", "rewritten")
    assert value(ctx) == "rewritten"
    assert [h.actor for h in memory.history(ctx.store, ctx.agent, "human")][-4:] == ["agent"] * 4


def test_core_memory_append_and_replace(ctx):
    builtins.core_memory_append(ctx, "human", "d")
    assert value(ctx) == "a\nb\nc\nd"
    builtins.core_memory_replace(ctx, "human", "b", "")  # empty new content deletes
    assert value(ctx) == "a\n\nc\nd"


def test_limits_and_read_only_hold_for_the_agent(ctx):
    memory.create(ctx.store, ctx.agent, "tiny", "ab", limit=5)
    with pytest.raises(LimitExceeded):
        builtins.core_memory_append(ctx, "tiny", "cdefg")
    memory.update_settings(ctx.store, ctx.agent, "tiny", read_only=True)
    with pytest.raises(ReadOnly):
        builtins.memory_rethink(ctx, "tiny", "x")


def test_rewrites_are_compare_and_set_against_what_the_agent_saw(ctx):
    seen = ctx.store.get_agent_block(ctx.agent.id, "human").version
    ctx.seen["human"] = seen
    memory.append(ctx.store, ctx.agent, "human", "from the user")  # someone else, after the agent read it
    with pytest.raises(EditConflict, match="from the user"):
        builtins.memory_rethink(ctx, "human", "a\nb\nc\nagent")
    assert ctx.seen["human"] == ctx.store.get_agent_block(ctx.agent.id, "human").version
    # The conflict showed the agent the new value: its next rewrite is based on it and applies.
    builtins.memory_rethink(ctx, "human", "a\nb\nc\nfrom the user\nagent")
    assert value(ctx).endswith("from the user\nagent")
    memory.append(ctx.store, ctx.agent, "human", "again")  # a patch is compare-and-set too
    with pytest.raises(EditConflict):
        builtins.memory_apply_patch(ctx, "human", "-a\n+A")
    # Its own edit does not make its next rewrite conflict.
    builtins.core_memory_append(ctx, "human", "more")
    builtins.memory_rethink(ctx, "human", "short")
    assert value(ctx) == "short"


def test_the_reply_tool_is_the_built_in_send_message():
    from memos.tools.reply import REPLY_TOOL

    assert builtins.send_message.__name__ == REPLY_TOOL and REPLY_TOOL in builtins.TERMINAL_TOOLS
