"""`memos messages`: the agent's message log."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, agent_and_workspace
from memos.cli.inputs import read_value

app = typer.Typer(help="List and search an agent's messages.", no_args_is_help=True)


class Order(str, Enum):
    asc = "asc"
    desc = "desc"


class Role(str, Enum):
    user = "user"
    assistant = "assistant"
    tool = "tool"
    system = "system"


class AddableRole(str, Enum):
    """Roles a person can add by hand. A tool message must answer a call the agent made in the
    step before it, so it is written only by the loop (a stray one would make prompts invalid)."""

    user = "user"
    assistant = "assistant"
    system = "system"


def _render(found) -> None:
    output.table(["when", "role", "content", "id"],
                 [(output.when(m.created_at), m.role, output.shorten(m.content, 70), m.id) for m in found])


@app.command("list")
def list_messages(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Page size.")] = 20,
    before: Annotated[str | None, typer.Option(help="Cursor: the page before this message id (in --order).")] = None,
    after: Annotated[str | None, typer.Option(help="Cursor: the page after this message id (in --order).")] = None,
    order: Annotated[Order, typer.Option(help="desc = newest first.")] = Order.desc,
    agent: AgentOpt = None,
    conversation: Annotated[str | None, typer.Option(
        "--conversation", "-c", help="Only this conversation's messages, by name or id ('all': every conversation's; "
        "default: the agent's own).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """A page of messages (newest first by default)."""
    from memos.core.conversations import open_conversation
    from memos.store.base import ALL_CONVERSATIONS, ConversationScope

    ws, current = agent_and_workspace(agent)
    scope: ConversationScope = ALL_CONVERSATIONS
    if conversation != "all":
        thread, _ = open_conversation(ws.store, current, conversation, create=False)
        scope = thread.id if thread else None
    found = ws.store.list_messages(current.id, before=before, after=after, limit=limit, order=order.value,
                                   conversation=scope)
    if json_out:
        output.emit_json(found)
    else:
        _render(found)


@app.command("search")
def search(
    query: Annotated[str | None, typer.Argument(help="Words to look for (any; more matches rank first).")] = None,
    role: Annotated[list[Role] | None, typer.Option(help="Only these roles (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (ISO, or 7d / 12h ago).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date (a bare date includes the whole day).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search messages by words and/or date range."""
    from memos.core.timeparse import parse_when
    from memos.errors import InvalidInput

    if not (query and query.strip()) and not since and not until:
        raise InvalidInput("give words to search for, or a date range with --since/--until")
    ws, current = agent_and_workspace(agent)
    found = ws.store.search_messages(
        current.id, query, roles=[r.value for r in role or []],
        start=parse_when(since) if since else None, end=parse_when(until, end_of_day=True) if until else None,
        limit=limit, offset=offset)
    if json_out:
        output.emit_json(found)
    else:
        _render(found)


@app.command("stats")
def stats(agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """Counts of messages by role, in context, first and last."""
    ws, current = agent_and_workspace(agent)
    result = ws.store.message_stats(current.id)
    if json_out:
        output.emit_json(result)
        return
    output.table(["stat", "value"], [
        ("total", result.total), ("in context", result.in_context),
        *[(f"role {role}", count) for role, count in result.by_role.items()],
        ("first", output.when(result.first_at)), ("last", output.when(result.last_at))])


@app.command("add")
def add(
    text: Annotated[str | None, typer.Argument(help="Message text; '-' or a pipe reads stdin.")] = None,
    role: Annotated[AddableRole, typer.Option(help="Who said it (tool results are the agent's own).")] = AddableRole.user,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Record a message in the log without running the agent (imports, notes)."""
    from memos.core.limits import check_message_size
    from memos.store.base import NewMessage

    ws, current = agent_and_workspace(agent)
    content = read_value(text, what="message")
    check_message_size(content)
    message = ws.store.append_messages(current.id, [NewMessage(role.value, content)])[0]
    if json_out:
        output.emit_json(message)
    else:
        output.plain(message.id)
