"""MCP tools as memos tools: named ``mcp:SERVER/tool``, attached like any tool, called through the hub.

A server's tool list is fetched when it is added (and by `memos mcp tools`), and kept in
``$MEMOS_HOME/mcp/SERVER.tools.json`` so listing tools never waits for a server. An attached
tool is a row like any other (source_type "mcp", its address as its source); the model sees it
by its own name, or ``mcp__SERVER__tool`` when that is taken.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any

from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NotFound
from memos.mcp_tools.hub import MCPError, RemoteTool, hub
from memos.mcp_tools.servers import ServerConfig, get_server, list_servers
from memos.store.base import Agent, NewTool, ToolRecord
from memos.tools.registry import FUNCTION_NAME, ToolSpec

MCP_SOURCE = "mcp"
ADDRESS = re.compile(r"^mcp:([^/\s]+)/(\S+)$")


def address(server: str, tool: str) -> str:
    return f"mcp:{server}/{tool}"


def parse_address(text: str) -> tuple[str, str]:
    match = ADDRESS.match(text)
    if match is None:
        raise InvalidInput(f"'{text}' is not an MCP tool", "name it mcp:SERVER/tool (see `memos tools list`)")
    return match.group(1), match.group(2)




def llm_name(server: str, tool: str) -> str:
    """The server-qualified function name ([A-Za-z0-9_-], at most 64 characters), for a tool whose
    own name the model cannot be given (taken, or not a valid function name)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", f"mcp__{server}__{tool}")
    if len(name) > 64:
        name = name[:55] + "_" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return name


def name_for(ws: Workspace, agent: Agent, server: str, tool: str) -> str:
    """The name the model calls the tool by: its own, as Letta gives it, unless a built-in, one of the
    agent's own tools or another server's tool has it (then mcp__SERVER__tool)."""
    from memos.tools.builtins import builtin_specs
    from memos.tools.shared_code import tool_repo

    here = address(server, tool)
    taken = set(builtin_specs()) | set(tool_repo(ws, agent).tool_names()) | {
        r.name for r in ws.store.list_agent_tools(agent.id) if r.source_code != here}
    return tool if FUNCTION_NAME.match(tool) and tool not in taken else llm_name(server, tool)


def attached_as(ws: Workspace, agent: Agent, server: str, tool: str) -> str | None:
    """The name an attached MCP tool has for this agent, or None when it is not attached."""
    here = address(server, tool)
    return next((r.name for r in ws.store.list_agent_tools(agent.id) if is_mcp(r) and r.source_code == here), None)


def tool_id(server: str, tool: str) -> str:
    """A stable id for the API (the server's tools have no rows until attached)."""
    return f"tool-{uuid.uuid5(uuid.NAMESPACE_URL, 'memos:' + address(server, tool))}"


# -- the cached tool lists ------------------------------------------------------------------------
def _cache(ws: Workspace, server: str) -> Path:
    return ws.home.root / "mcp" / f"{server}.tools.json"


def cached(ws: Workspace, server: str) -> list[RemoteTool] | None:
    try:
        data = json.loads(_cache(ws, server).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [RemoteTool(t["name"], t.get("description", ""), t.get("input_schema") or {"type": "object"})
            for t in data.get("tools", []) if isinstance(t, dict) and isinstance(t.get("name"), str)]


def refresh(ws: Workspace, server: ServerConfig) -> list[RemoteTool]:
    """Ask the server for its tools now, and keep the list."""
    from memos.core.files import write_atomically

    tools = hub().list_tools(server)
    write_atomically(_cache(ws, server.name), json.dumps({"server": server.name, "tools": [
        {"name": t.name, "description": t.description, "input_schema": t.input_schema} for t in tools]}, indent=1))
    return tools


def forget(ws: Workspace, server: str) -> None:
    _cache(ws, server).unlink(missing_ok=True)


def known_tools(ws: Workspace) -> list[tuple[ServerConfig, RemoteTool]]:
    """Every configured server's tools, as last listed."""
    return [(server, tool) for server in list_servers(ws.config) for tool in cached(ws, server.name) or []]


def _remote(ws: Workspace, server: ServerConfig, name: str) -> RemoteTool:
    """The server's tool as last listed; one it did not list then is asked of the server now."""
    found = next((t for t in cached(ws, server.name) or [] if t.name == name), None)
    if found is None:
        found = next((t for t in refresh(ws, server) if t.name == name), None)
    if found is None:
        raise NotFound(f"MCP server {server.name} has no tool named '{name}'", f"see `memos mcp tools {server.name}`")
    return found


# -- attaching -----------------------------------------------------------------------------------
def attach(ws: Workspace, agent: Agent, server_name: str, tool_name: str, as_name: str | None = None) -> ToolRecord:
    """Attach a server's tool; ``as_name``: the name the model should call it by (an agent file's)."""
    server = get_server(ws.config, server_name)
    remote = _remote(ws, server, tool_name)
    name = attached_as(ws, agent, server.name, remote.name) or as_name or name_for(ws, agent, server.name,
                                                                                   remote.name)
    if not FUNCTION_NAME.match(name):
        raise InvalidInput(f"'{name}' cannot be a tool's name", "use letters, digits, _ or -, at most 64")
    parameters = {"type": "object", "properties": {}, **remote.input_schema}
    description = remote.description or f"{remote.name} (MCP server {server.name})"
    schema = {"name": name, "description": description, "parameters": parameters}
    return ws.store.attach_tool(agent.id, NewTool(name, description, schema, address(server.name, remote.name),
                                                  None, MCP_SOURCE))


def detach(ws: Workspace, agent: Agent, server_name: str, tool_name: str) -> bool:
    name = attached_as(ws, agent, server_name, tool_name)
    return name is not None and ws.store.detach_tool(agent.id, name)


def _attached_from(ws: Workspace, server_name: str) -> list[tuple[str, ToolRecord, str]]:
    """(agent id, its tool row, the server's tool name) for each of the server's tools any agent has."""
    found = []
    for agent_id, records in ws.store.tools_by_agent([a.id for a in ws.store.list_agents()]).items():
        for record in records:
            if is_mcp(record):
                server, tool = parse_address(record.source_code or "")
                if server == server_name:
                    found.append((agent_id, record, tool))
    return found


def detach_everywhere(ws: Workspace, server_name: str) -> int:
    """Detach a server's tools from every agent (the server is going away); returns how many."""
    return sum(ws.store.detach_tool(agent_id, record.name) for agent_id, record, _ in _attached_from(ws, server_name))


def update_attached(ws: Workspace, server_name: str) -> int:
    """Give agents the server's tools as it lists them now (a changed schema or description)."""
    listed = {t.name for t in cached(ws, server_name) or []}
    updated = [(agent_id, tool) for agent_id, _, tool in _attached_from(ws, server_name) if tool in listed]
    for agent_id, tool in updated:
        attach(ws, ws.store.get_agent(agent_id), server_name, tool)
    return len(updated)


def find_by_id(ws: Workspace, wanted: str) -> tuple[str, str] | None:
    """(server, tool) of a configured server's tool with this API id."""
    for server, remote in known_tools(ws):
        if tool_id(server.name, remote.name) == wanted:
            return server.name, remote.name
    return None


def is_mcp(record: ToolRecord) -> bool:
    return record.source_type == MCP_SOURCE


# -- what the loop calls ---------------------------------------------------------------------------
def specs(ws: Workspace, records: list[ToolRecord]) -> dict[str, ToolSpec]:
    """The attached MCP tools as the loop's tools; a call goes to the server, a failure is an error
    result the agent reads (the turn goes on)."""
    servers = {s.name: s for s in list_servers(ws.config)}
    out: dict[str, ToolSpec] = {}
    for record in records:
        if not is_mcp(record):
            continue
        server_name, remote = parse_address(record.source_code or "")
        parameters = record.json_schema.get("parameters") or {"type": "object", "properties": {}}
        out[record.name] = ToolSpec(record.name, record.description, parameters,
                                    _caller(servers.get(server_name), server_name, remote),
                                    return_char_limit=record.return_char_limit)
    return out


def _caller(server: ServerConfig | None, server_name: str, tool: str) -> Any:
    def call(ctx: Any, **arguments: Any) -> str:
        if server is None:
            raise MCPError(f"MCP server {server_name} is no longer configured",
                           f"add it again (memos mcp add {server_name} ...) or detach mcp:{server_name}/{tool}")
        return hub().call(server, tool, arguments)

    return call
