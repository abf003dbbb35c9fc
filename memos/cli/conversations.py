"""`memos conversations`: an agent's threads, each with its own messages and context, all
sharing the agent's memory blocks. Talk in one with `memos chat -c NAME` or `memos send -c NAME`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, YesOpt, agent_and_workspace, confirm

if TYPE_CHECKING:
    from memos.store.base import Conversation

app = typer.Typer(help="An agent's conversations: separate threads sharing its memory.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The conversation's name (or id).")]


def _view(conversation: Conversation) -> dict[str, Any]:
    return {"id": conversation.id, "name": conversation.name, "agent_id": conversation.agent_id,
            "summary": conversation.summary, "model": conversation.model,
            "created_at": conversation.created_at, "last_message_at": conversation.last_message_at}


@app.command("list")
def list_conversations(
    agent: AgentOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """The agent's conversations, the most recently used first (its own is not listed: it is
    where `memos chat` and `memos send` go without -c)."""
    ws, current = agent_and_workspace(agent)
    found = ws.store.list_conversations(current.id, limit=limit, order_by="last_message_at")
    if json_out:
        output.emit_json([_view(c) for c in found])
        return
    output.table(["name", "last message", "created", "model", "summary", "id"], [
        (c.name or "", output.when(c.last_message_at) if c.last_message_at else "never", output.when(c.created_at),
         c.model or "", output.shorten(c.summary or "", 40), c.id) for c in found])


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for it: letters, digits, '.', '_' or '-'.")],
    agent: AgentOpt = None,
    summary: Annotated[str | None, typer.Option(help="What it is about.")] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="A model for its turns (default: the agent's).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Start an empty conversation."""
    from memos.core.conversations import start_conversation

    ws, current = agent_and_workspace(agent)
    made = start_conversation(ws.store, current, name=name, summary=summary, model=model)
    if json_out:
        output.emit_json(_view(made))
    else:
        output.note(f"created conversation '{name}' of agent '{current.name}' ({made.id})")


@app.command("fork")
def fork(
    source: Annotated[str, typer.Argument(help="The conversation to fork ('default': the agent's own).")],
    name: Annotated[str, typer.Argument(help="The new conversation's name.")],
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A new conversation that starts from a copy of another one's context."""
    from memos.core.conversations import fork_conversation, open_conversation

    ws, current = agent_and_workspace(agent)
    origin, _ = open_conversation(ws.store, current, source, create=False)
    made = fork_conversation(ws.store, current, origin.id if origin else None, name=name)
    if json_out:
        output.emit_json(_view(made))
    else:
        output.note(f"forked '{source}' into conversation '{name}' ({made.id})")


@app.command("rename")
def rename(old: NameArg, new: Annotated[str, typer.Argument(help="Its new name.")], agent: AgentOpt = None,
           json_out: JsonOpt = False) -> None:
    """Give a conversation another name."""
    ws, current = agent_and_workspace(agent)
    changed = ws.store.update_conversation(ws.store.find_conversation(current.id, old).id, name=new)
    if json_out:
        output.emit_json(_view(changed))
    else:
        output.note(f"renamed conversation '{old}' to '{new}'")


@app.command("rm")
def remove(name: NameArg, agent: AgentOpt = None, yes: YesOpt = False) -> None:
    """Delete a conversation and its messages (the agent's memory and other conversations stay)."""
    ws, current = agent_and_workspace(agent)
    found = ws.store.find_conversation(current.id, name)
    confirm(f"Delete conversation '{name}' of agent '{current.name}' and its messages?", yes)
    ws.store.delete_conversation(found.id)
    output.note(f"deleted conversation '{name}'")
