"""`memos memory`: core memory blocks, their history, undo and rollback."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, YesOpt, agent_and_workspace, confirm
from memos.cli.inputs import read_value

app = typer.Typer(help="Show and edit core memory blocks.", no_args_is_help=True)

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (kept in the block's history).")]


def _block_json(block) -> dict:
    data = output.jsonable(block)
    data["chars"] = len(block.value)
    return data


def _report(edit, json_out: bool, verb: str) -> None:
    block = edit.after
    if json_out:
        output.emit_json(_block_json(block))
    elif not edit.changed:
        output.note(f"block '{block.label}' unchanged")
    else:
        output.note(f"block '{block.label}' {verb}: {len(block.value):,}/{block.limit:,} chars, version {block.version}")


@app.command("show")
def show(
    label: Annotated[str | None, typer.Argument(help="Block label (default: every block).")] = None,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one block's value, or every block with its usage."""
    ws, current = agent_and_workspace(agent)
    if label is not None:
        block = ws.store.get_agent_block(current.id, label)
        if json_out:
            output.emit_json(_block_json(block))
        else:
            output.plain(block.value)
        return
    blocks = ws.store.list_agent_blocks(current.id)
    if json_out:
        output.emit_json([_block_json(b) for b in blocks])
        return
    if not output.is_terminal(sys.stdout):
        for block in blocks:
            output.plain(f"<{block.label} chars={len(block.value)} limit={block.limit}"
                         f"{' read_only' if block.read_only else ''}>\n{block.value}\n</{block.label}>")
        return
    from rich.panel import Panel
    from rich.text import Text

    console = output.out()
    for block in blocks:
        flags = "".join(f" · {f}" for f, on in (("read-only", block.read_only), ("shared", block.shared)) if on)
        used = len(block.value) / block.limit if block.limit else 0
        style = "red" if used > 0.9 else "yellow" if used > 0.7 else "green"
        title = Text.assemble((block.label, "bold"), f"  {len(block.value):,}/{block.limit:,} chars", (flags, "dim"))
        console.print(Panel(Text(block.value or "(empty)"), title=title, title_align="left", border_style=style))


@app.command("set")
def set_block(
    label: Annotated[str, typer.Argument(help="Block label.")],
    value: Annotated[str | None, typer.Argument(help="New value; '-' or a pipe reads stdin; none opens $EDITOR.")] = None,
    allow_empty: Annotated[bool, typer.Option("--allow-empty", help="Allow clearing the block.")] = False,
    reason: ReasonOpt = "set by user",
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Replace a block's whole value."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    initial = ws.store.get_agent_block(current.id, label).value if value is None else ""
    text = read_value(value, what=f"value for block '{label}'", initial=initial, allow_empty=allow_empty)
    _report(memory.set_value(ws.store, current, label, text, reason=reason), json_out, "set")


@app.command("append")
def append(
    label: Annotated[str, typer.Argument(help="Block label.")],
    text: Annotated[str | None, typer.Argument(help="Text to append; '-' or a pipe reads stdin.")] = None,
    reason: ReasonOpt = "appended by user",
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Append a line to a block."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    value = read_value(text, what="text to append")
    _report(memory.append(ws.store, current, label, value, reason=reason), json_out, "appended")


@app.command("replace")
def replace(
    label: Annotated[str, typer.Argument(help="Block label.")],
    old: Annotated[str, typer.Argument(help="Exact text to replace (must occur in the block).")],
    new: Annotated[str, typer.Argument(help="Replacement text ('' deletes).")],
    all_: Annotated[bool, typer.Option("--all", help="Replace every occurrence.")] = False,
    reason: ReasonOpt = "replaced by user",
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Replace exact text inside a block."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    _report(memory.replace(ws.store, current, label, old, new, reason=reason, replace_all=all_), json_out, "updated")


@app.command("create")
def create(
    label: Annotated[str, typer.Argument(help="Label of the new block.")],
    value: Annotated[str | None, typer.Argument(help="Initial value; '-' or a pipe reads stdin.")] = "",
    limit: Annotated[int, typer.Option(help="Character limit.")] = 5_000,
    description: Annotated[str, typer.Option(help="What the block is for (the agent sees it).")] = "",
    read_only: Annotated[bool, typer.Option("--read-only", help="The agent may read but not edit it.")] = False,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a block and attach it to the agent."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    text = read_value(value, what="initial value", allow_empty=True) if value in ("-", None) else value or ""
    block = memory.create(ws.store, current, label, text, limit=limit, description=description, read_only=read_only)
    if json_out:
        output.emit_json(_block_json(block))
    else:
        output.plain(block.id)
        output.note(f"created block '{block.label}' ({len(block.value):,}/{block.limit:,} chars)")


@app.command("update")
def update(
    label: Annotated[str, typer.Argument(help="Block label.")],
    limit: Annotated[int | None, typer.Option(help="New character limit.")] = None,
    read_only: Annotated[bool | None, typer.Option("--read-only/--writable", help="Lock or unlock agent edits.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change a block's limit, read-only flag or description."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    edit = memory.update_settings(ws.store, current, label, limit=limit, read_only=read_only, description=description)
    _report(edit, json_out, "updated")


@app.command("rename")
def rename(
    label: Annotated[str, typer.Argument(help="Block label.")],
    new_label: Annotated[str, typer.Argument(help="Its new label (one word).")],
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Give a block a new label (for every agent that shares it)."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    block = memory.relabel(ws.store, ws.store.get_agent_block(current.id, label), new_label)
    if json_out:
        output.emit_json(block)
    else:
        output.note(f"renamed block '{label}' to '{block.label}'")


@app.command("delete")
def delete(
    label: Annotated[str, typer.Argument(help="Block label.")],
    yes: YesOpt = False,
    agent: AgentOpt = None,
) -> None:
    """Delete a block (refused for a block shared with other agents: detach it instead)."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    ws.store.get_agent_block(current.id, label)
    confirm(f"Delete block '{label}' of agent '{current.name}' and its history?", yes)
    memory.delete(ws.store, current, label)
    output.note(f"deleted block '{label}'")


@app.command("attach")
def attach(
    block_id: Annotated[str, typer.Argument(help="Id of a block (see `memos memory blocks`).")],
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Share an existing block with this agent."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    block = memory.attach(ws.store, current, block_id)
    if json_out:
        output.emit_json(_block_json(block))
    else:
        output.note(f"attached block '{block.label}' to '{current.name}' (shared by {len(block.agent_ids)} agents)")


@app.command("detach")
def detach(
    label: Annotated[str, typer.Argument(help="Block label.")],
    agent: AgentOpt = None,
) -> None:
    """Detach a block from this agent (the block itself is kept)."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    block = memory.detach(ws.store, current, label)
    output.note(f"detached block '{label}' ({block.id}) from '{current.name}'")


@app.command("blocks")
def blocks(json_out: JsonOpt = False) -> None:
    """List every block in the store with the agents using it."""
    from memos.cli.common import workspace

    ws = workspace()
    all_blocks = ws.store.list_blocks()
    if json_out:
        output.emit_json([_block_json(b) for b in all_blocks])
        return
    names = {a.id: a.name for a in ws.store.list_agents()}
    output.table(["id", "label", "chars", "agents"], [
        (b.id, b.label, f"{len(b.value):,}/{b.limit:,}", ", ".join(names.get(a, a) for a in b.agent_ids) or "-")
        for b in all_blocks])


@app.command("history")
def history(
    label: Annotated[str, typer.Argument(help="Block label.")],
    diff: Annotated[bool, typer.Option("--diff", help="Show each change as a diff.")] = False,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every change to a block: version, who, why, when."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    versions = memory.history(ws.store, current, label)
    if json_out:
        output.emit_json(versions)
        return
    if diff:
        import difflib

        for v in versions:
            output.plain(f"version {v.version} · {v.actor} · {output.when(v.created_at)} · {v.reason}")
            lines = difflib.unified_diff((v.old_value or "").splitlines(), v.new_value.splitlines(),
                                         "before", "after", lineterm="")
            output.plain("\n".join(list(lines)[2:]) or "(no text change)")
        return
    output.table(["version", "when", "actor", "reason", "chars", "value"], [
        (v.version, output.when(v.created_at), v.actor, v.reason, len(v.new_value), output.shorten(v.new_value, 50))
        for v in versions])


@app.command("undo")
def undo(
    label: Annotated[str, typer.Argument(help="Block label.")],
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Undo the last change to a block (repeat to keep stepping back)."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    _report(memory.undo(ws.store, current, label), json_out, "restored")


@app.command("rollback")
def rollback(
    label: Annotated[str, typer.Argument(help="Block label.")],
    to: Annotated[int, typer.Option("--to", help="Version to restore (see `memos memory history`).")],
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Restore a block to an earlier version (recorded as a new version)."""
    from memos.core import memory

    ws, current = agent_and_workspace(agent)
    _report(memory.rollback(ws.store, current, label, to), json_out, f"rolled back to version {to}")
