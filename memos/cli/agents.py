"""`memos agents`: create, list, show, rename, use, rm."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import JsonOpt, YesOpt, confirm, workspace

app = typer.Typer(help="Create and manage agents.", no_args_is_help=True)


TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag for the agent (repeatable).")]


def _summary_json(summary) -> dict:
    data = output.jsonable(summary.agent)
    data["counts"] = output.jsonable(summary.counts)
    data["blocks"] = [{"id": b.id, "label": b.label, "chars": len(b.value), "limit": b.limit,
                       "read_only": b.read_only, "shared": b.shared} for b in summary.blocks]
    return data


SleeptimeOpt = Annotated[int | None, typer.Option(
    "--sleeptime", min=1, max=1000, metavar="EVERY",
    help="Give it a sleep-time agent (NAME-sleeptime, sharing its memory) that reviews the conversation after "
         "the first turn, then every EVERY turns, and keeps the memory blocks (Letta's; Letta's default is 5).")]


ResponseFormatOpt = Annotated[str | None, typer.Option(
    "--response-format", help="Structured output: 'json_object', 'text' (plain, the default), or a file holding a "
    "JSON Schema the replies must follow.")]


def _response_format(value: str | None) -> dict[str, Any] | None:
    """--response-format's value as Letta's response_format (core/agents.check_response_format checks it)."""
    import json
    from pathlib import Path

    from memos.errors import InvalidInput

    if value is None:
        return None
    if value in ("text", "json_object"):
        return {"type": value}
    path = Path(value)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read the JSON Schema {value}: {exc.strerror}",
                           "give 'text', 'json_object' or a JSON Schema file") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{value} is not JSON ({exc.msg}, line {exc.lineno})") from None
    if isinstance(schema, dict) and schema.get("type") == "json_schema":
        return schema  # already a whole response_format
    return {"type": "json_schema", "json_schema": {"name": path.stem, "schema": schema}}


def _format_name(chosen: dict[str, Any] | None) -> str:
    if chosen is None:
        return "text"
    if chosen["type"] == "json_schema":
        return f"JSON Schema '{chosen['json_schema'].get('name', 'response')}'"
    return "JSON object"


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name (letters, digits, . _ -).")],
    description: Annotated[str, typer.Option(help="What this agent is for.")] = "",
    model: Annotated[str | None, typer.Option(help="LLM, named the litellm way (default: config default_model).")] = None,
    embedding_model: Annotated[str | None, typer.Option(help="Embedding model (default: config embedding_model).")] = None,
    context_window: Annotated[int | None, typer.Option(min=1, help="Context window in tokens.")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        "--max-tokens", min=1, help="Cap on the tokens of one reply (default: the server's own).")] = None,
    response_format: ResponseFormatOpt = None,
    persona: Annotated[str | None, typer.Option(help="Text of the persona block (default: the template).")] = None,
    human: Annotated[str | None, typer.Option(help="Text of the human block (default: the template).")] = None,
    tag: TagOpt = None,
    sleeptime: SleeptimeOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create an agent with the default persona and human blocks."""
    from memos.core import agents

    ws = workspace()
    agent = agents.create_agent(ws, name, description=description, model=model, embedding_model=embedding_model,
                                context_window=context_window, persona=persona, human=human, tags=tag or [],
                                max_tokens=max_tokens, response_format=_response_format(response_format))
    if sleeptime:
        group = agents.enable_sleeptime(ws, agent, sleeptime)
        output.note(f"agent '{agent.name}-sleeptime' reviews its conversation every {group.frequency} turn(s)")
    if json_out:
        output.emit_json(_summary_json(agents.summarize(ws, agent)))
    else:
        output.plain(agent.id)
        output.note(f"created agent '{agent.name}' ({agent.model})")


@app.command("list")
def list_agents(
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only agents with this tag (repeatable: any of them).")] = None,
    all_tags: Annotated[bool, typer.Option("--all-tags", help="With several --tag: agents with every one.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """List agents with their model, tags, counts and last activity."""
    from memos.core import agents

    ws = workspace()
    summaries = [agents.summarize(ws, a) for a in agents.with_tags(ws.store.list_agents(), tag or [], all_tags)]
    if json_out:
        output.emit_json([_summary_json(s) for s in summaries])
        return
    default = ws.config.get("default_agent")
    output.table(
        ["name", "model", "tags", "messages", "passages", "last activity", "id"],
        [(("* " if s.agent.name == default else "") + s.agent.name, s.agent.model, ", ".join(s.agent.tags) or "-",
          s.counts.messages, s.counts.passages, output.when(s.counts.last_activity), s.agent.id) for s in summaries],
    )


@app.command("show")
def show(
    name: Annotated[str | None, typer.Argument(help="Agent name or id (default: the current agent).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Show an agent: settings, counts and memory blocks."""
    from memos.core import agents

    ws = workspace()
    summary = agents.summarize(ws, ws.resolve_agent(name))
    if json_out:
        output.emit_json(_summary_json(summary))
        return
    a, c = summary.agent, summary.counts
    output.table(["field", "value"], [
        ("name", a.name), ("id", a.id), ("description", a.description or "-"), ("model", a.model),
        ("tags", ", ".join(a.tags) or "-"),
        ("embedding model", a.embedding_model), ("context window", f"{a.context_window:,}"),
        ("max tokens", f"{a.max_tokens:,}" if a.max_tokens else "the server's default"),
        ("response format", _format_name(a.response_format)),
        ("messages", c.messages), ("passages", c.passages), ("created", output.when(a.created_at)),
        ("last activity", output.when(c.last_activity)),
    ])
    output.table(["block", "chars", "flags"], [
        (b.label, f"{len(b.value):,}/{b.limit:,}",
         " ".join(f for f, on in (("read-only", b.read_only), ("shared", b.shared)) if on)) for b in summary.blocks
    ])


@app.command("rename")
def rename(
    old: Annotated[str, typer.Argument(help="Current name.")],
    new: Annotated[str, typer.Argument(help="New name.")],
    json_out: JsonOpt = False,
) -> None:
    """Rename an agent (its directory under agents/ moves too)."""
    from memos.core import agents

    ws = workspace()
    agent = agents.rename_agent(ws, ws.store.get_agent(old), new)
    if json_out:
        output.emit_json(agent)
    else:
        output.note(f"renamed agent '{old}' to '{agent.name}'")


@app.command("update")
def update(
    name: Annotated[str | None, typer.Argument(help="Agent (default: the current agent).")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    model: Annotated[str | None, typer.Option(help="New LLM, named the litellm way.")] = None,
    context_window: Annotated[int | None, typer.Option(help="Context window in tokens.")] = None,
    max_tokens: Annotated[int | None, typer.Option(
        "--max-tokens", min=0, help="Cap on the tokens of one reply; 0 leaves it to the server.")] = None,
    response_format: ResponseFormatOpt = None,
    tool_rule: Annotated[list[str] | None, typer.Option("--tool-rule", help='A tool rule as JSON, e.g. \'{"type": "run_first", "tool_name": "archival_memory_search"}\' (repeatable; replaces the rules).')] = None,
    clear_rules: Annotated[bool, typer.Option("--clear-rules", help="Remove every tool rule.")] = False,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable; replaces the tags).")] = None,
    clear_tags: Annotated[bool, typer.Option("--clear-tags", help="Remove every tag.")] = False,
    sleeptime: SleeptimeOpt = None,
    no_sleeptime: Annotated[bool, typer.Option("--no-sleeptime", help="Remove its sleep-time agent.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Change an agent's description, model, context window, reply cap, tool rules, tags or sleep-time agent."""
    import json

    from memos.core import agents
    from memos.errors import InvalidInput

    rules: list[dict[str, Any]] | None = None
    if clear_rules:
        rules = []
    elif tool_rule:
        rules = []
        for raw in tool_rule:
            try:
                rules.append(json.loads(raw))
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"--tool-rule is not valid JSON ({exc.msg}): {raw}") from None
    ws = workspace()
    agent = agents.update_agent(ws, ws.resolve_agent(name), description=description, model=model,
                                context_window=context_window, tool_rules=rules,
                                tags=[] if clear_tags else (tag or None), max_tokens=max_tokens,
                                response_format=_response_format(response_format))
    if no_sleeptime:
        agents.disable_sleeptime(ws, agent)
    elif sleeptime:
        group = agents.enable_sleeptime(ws, agent, sleeptime)
        if group.frequency != sleeptime:
            group = ws.store.update_group(group.id, frequency=sleeptime)
        output.note(f"its sleep-time agent reviews the conversation every {group.frequency} turn(s)")
    if json_out:
        output.emit_json(agent)
    else:
        output.note(f"updated agent '{agent.name}' ({agent.model}, {len(agent.tool_rules)} tool rules)")


@app.command("use")
def use(name: Annotated[str, typer.Argument(help="Agent to make the default.")]) -> None:
    """Make an agent the default (config default_agent)."""
    from memos.core import agents

    agent = agents.use_agent(workspace(), name)
    output.note(f"'{agent.name}' is now the default agent")


@app.command("rm")
def remove(
    name: Annotated[str, typer.Argument(help="Agent to delete.")],
    yes: YesOpt = False,
) -> None:
    """Delete an agent with its messages, archival memory and unshared blocks."""
    from memos.core import agents

    ws = workspace()
    agent = ws.store.get_agent(name)
    counts = ws.store.agent_counts(agent.id)
    confirm(f"Delete agent '{agent.name}' with {counts.messages} messages and {counts.passages} passages?", yes)
    agents.delete_agent(ws, agent)
    output.note(f"deleted agent '{agent.name}'")


@app.command("export")
def export(
    name: Annotated[str | None, typer.Argument(help="Agent name or id (default: the current agent).")] = None,
    out_path: Annotated[str, typer.Option("--output", "-o", help="The .af file to write ('-': stdout).")] = "-",
    no_messages: Annotated[bool, typer.Option("--no-messages", help="Leave the message history out.")] = False,
) -> None:
    """Write the agent as a Letta agent file (.af): blocks, messages, tools with their code, rules, settings."""
    import json

    from memos.agentfile.export import export_agent
    from memos.core.files import write_atomically

    ws = workspace()
    agent = ws.resolve_agent(name)
    document = export_agent(ws, agent, messages=not no_messages)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if out_path == "-":
        output.plain(text)
        return
    write_atomically(out_path, text, make_parents=False, private=False)
    counted = document["agents"][0]
    output.note(f"exported agent '{agent.name}' to {out_path}: {len(counted['block_ids'])} blocks, "
                f"{max(len(counted['messages']) - 1, 0)} messages, {len(document['tools'])} tools")


@app.command("import")
def import_file(
    path: Annotated[str, typer.Argument(help="A Letta agent file (.af); '-' reads stdin.")],
    name: Annotated[str | None, typer.Option("--name", help="Name for the imported agent (default: the file's).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="LLM for the agent (default: the file's, the litellm way).")] = None,
    embedding_model: Annotated[str | None, typer.Option(
        "--embedding-model", help="Embedding model for the agent (default: the file's when reachable, else "
        "config embedding_model).")] = None,
    no_messages: Annotated[bool, typer.Option("--no-messages", help="Leave the message history out.")] = False,
    allow_local_tools: Annotated[bool, typer.Option(
        "--allow-local-tools", help="Attach the file's tools that run outside the sandbox here: tools of MCP "
        "servers configured on this machine, Letta's multi-agent tools (left out by default, each named).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Create agents from a Letta agent file: blocks, history, tools (checked in the sandbox), rules."""
    from memos.agentfile.importer import import_agent_file
    from memos.agentfile.read import load_bytes

    ws = workspace()
    source = "standard input" if path == "-" else path
    report = import_agent_file(ws, load_bytes(path), source=source, name=name, model=model,
                               messages=not no_messages, allow_local_tools=allow_local_tools,
                               embedding=embedding_model)
    if json_out:
        output.emit_json({"agents": [{"id": a.agent.id, "name": a.agent.name, "model": a.agent.model,
                                      "blocks": a.blocks, "messages": a.messages, "tools": a.tools}
                                     for a in report.agents], "notes": report.notes})
        return
    for imported in report.agents:
        output.plain(imported.agent.id)
        output.note(f"imported agent '{imported.agent.name}' ({imported.agent.model}): {imported.blocks} blocks, "
                    f"{imported.messages} messages, {len(imported.tools)} tools of its own")
    for note in report.notes:
        output.note(note)
