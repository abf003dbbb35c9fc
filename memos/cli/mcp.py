"""`memos mcp`: the MCP tool servers agents may use (add, list, show, tools, rm)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from memos.cli import output
from memos.cli.common import JsonOpt, YesOpt, confirm, workspace

if TYPE_CHECKING:
    from memos.mcp_tools.hub import RemoteTool
    from memos.mcp_tools.servers import ServerConfig

app = typer.Typer(help="MCP tool servers: add, list, show, tools, rm.", no_args_is_help=True)

ServerArg = Annotated[str, typer.Argument(help="The server's name (letters, digits, _ or -).")]


def _server_json(server: ServerConfig, tools: list[RemoteTool] | None) -> dict[str, Any]:
    from memos.mcp_tools.tools import address

    return {"name": server.name, "transport": server.transport, **server.as_table(),
            "tools": None if tools is None else [{"name": address(server.name, t.name), "description": t.description,
                                                  "input_schema": t.input_schema} for t in tools]}


@app.command("add")
def add(
    name: ServerArg,
    command: Annotated[list[str] | None, typer.Argument(help="After --: the command that starts a stdio server.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="A streamable-HTTP server, e.g. http://127.0.0.1:8931/mcp.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="An environment variable for a stdio server: NAME passes memos's value, NAME=VALUE a fixed one (not for secrets; repeatable).")] = None,
    sse: Annotated[bool, typer.Option("--sse", help="The URL speaks the older HTTP+SSE transport.")] = False,
    header: Annotated[list[str] | None, typer.Option("--header", help="NAME=VALUE for an HTTP server; ${VAR} takes VAR from the environment (repeatable).")] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds a call may take.")] = 30.0,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="Allow a URL that is not on this machine.")] = False,
    no_check: Annotated[bool, typer.Option("--no-check", help="Do not start the server to list its tools now.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Add a server: memos mcp add NAME -- COMMAND ARGS... or memos mcp add NAME --url URL.

    The server is started (or called) once to list its tools; a server that fails is not added.
    Secrets never go into config.toml: name environment variables with --env, or ${VAR} in a header."""
    from memos.errors import InvalidInput
    from memos.mcp_tools import servers, tools

    headers = {}
    for item in header or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--header takes NAME=VALUE, not '{item}'", "e.g. --header 'Authorization=Bearer ${TOKEN}'")
        headers[key.strip()] = value
    names = [item for item in env or [] if "=" not in item]
    values = dict(item.split("=", 1) for item in env or [] if "=" in item)
    ws = workspace()
    server = servers.add_server(ws.config, name, command=command or [], url=url, env=names, headers=headers,
                                timeout=timeout, allow_remote=allow_remote, sse=sse, env_values=values)
    listed = None
    if not no_check:
        try:
            listed = tools.refresh(ws, server)
        except BaseException:
            servers.remove_server(ws.config, name)  # a server that cannot be reached is not added
            raise
    if json_out:
        output.emit_json(_server_json(server, listed))
        return
    output.note(f"added MCP server {name} ({server.transport}: {server.address})"
                + (f" with {len(listed)} tools: {', '.join(t.name for t in listed)}" if listed is not None else ""))
    if listed:
        output.note(f"attach one with: memos tools attach mcp:{name}/{listed[0].name}")


@app.command("list")
def list_servers(json_out: JsonOpt = False) -> None:
    """List the configured servers and how many tools each listed last time."""
    from memos.mcp_tools import servers, tools

    ws = workspace()
    rows = [(s, tools.cached(ws, s.name)) for s in servers.list_servers(ws.config)]
    if json_out:
        output.emit_json([_server_json(s, t) for s, t in rows])
        return
    output.table(["name", "transport", "address", "tools", "timeout"],
                 [(s.name, s.transport, s.address, "?" if t is None else len(t), f"{s.timeout:g} s") for s, t in rows])


@app.command("show")
def show(name: ServerArg, json_out: JsonOpt = False) -> None:
    """A server's configuration and its tools (as last listed)."""
    from memos.mcp_tools import servers, tools

    ws = workspace()
    server = servers.get_server(ws.config, name)
    listed = tools.cached(ws, name)
    if json_out:
        output.emit_json(_server_json(server, listed))
        return
    output.table(["field", "value"], [
        ("name", server.name), ("transport", server.transport), ("address", server.address),
        ("environment", ", ".join([*server.env, *(f"{k}={v}" for k, v in server.env_values.items())]) or "-"), ("headers", ", ".join(server.headers) or "-"),
        ("timeout", f"{server.timeout:g} s"), ("remote allowed", "yes" if server.allow_remote else "no")])
    if listed:
        output.table(["tool", "description"], [(tools.address(name, t.name), output.shorten(t.description, 70))
                                               for t in listed])


@app.command("tools")
def list_tools(name: ServerArg, json_out: JsonOpt = False) -> None:
    """Ask the server for its tools now (and remember the list)."""
    from memos.mcp_tools import servers, tools

    ws = workspace()
    listed = tools.refresh(ws, servers.get_server(ws.config, name))
    if json_out:
        output.emit_json([{"name": tools.address(name, t.name), "description": t.description,
                           "input_schema": t.input_schema} for t in listed])
        return
    output.table(["tool", "description"], [(tools.address(name, t.name), output.shorten(t.description, 70))
                                           for t in listed])


@app.command("rm")
def rm(name: ServerArg, yes: YesOpt = False) -> None:
    """Remove a server; agents that had its tools lose them."""
    from memos.mcp_tools import servers, tools

    ws = workspace()
    servers.get_server(ws.config, name)
    confirm(f"Remove MCP server {name} and detach its tools from every agent?", yes)
    detached = tools.detach_everywhere(ws, name)
    servers.remove_server(ws.config, name)
    tools.forget(ws, name)
    output.note(f"removed MCP server {name}" + (f"; detached {detached} tool(s)" if detached else ""))
