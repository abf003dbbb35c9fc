"""MCP servers in Letta's shapes (/v1/mcp-servers), as far as letta-client uses them.

Servers live in config.toml like those `memos mcp add` writes, so CLI and API see the same
ones. memos never writes a secret there: an ``env`` value or an auth token must be a
``${VARIABLE}`` that memos's environment provides.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NotAllowed, NotFound
from memos.mcp_tools import servers as mcp_servers
from memos.mcp_tools import tools as mcp_tools
from memos.mcp_tools.hub import MCPError, RemoteTool, hub
from memos.mcp_tools.servers import ServerConfig
from memos.server import shapes
from memos.server.deps import WS

router = APIRouter(prefix="/v1/mcp-servers", tags=["mcp"])
VARIABLE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def server_id(name: str) -> str:
    return f"mcp_server-{uuid.uuid5(uuid.NAMESPACE_URL, 'memos:mcp-server:' + name)}"


def _shape(server: ServerConfig) -> dict[str, Any]:
    common = {"id": server_id(server.name), "server_name": server.name}
    if server.url:
        return {**common, "mcp_server_type": "sse" if server.sse else "streamable_http", "server_url": server.url,
                "custom_headers": server.headers or None, "auth_header": None, "auth_token": None}
    env = {**server.env_values, **{name: f"${{{name}}}" for name in server.env}}
    return {**common, "mcp_server_type": "stdio", "command": server.command[0], "args": server.command[1:],
            "env": env or None}


def _tool_shape(server: ServerConfig, tool: RemoteTool) -> dict[str, Any]:
    schema = {"name": tool.name, "description": tool.description, "parameters": tool.input_schema}
    return shapes.mcp_tool(mcp_tools.tool_id(server.name, tool.name), tool.name, schema, server.name, tool.name)


def _find(ws: Workspace, mcp_server_id: str) -> ServerConfig:
    for server in mcp_servers.list_servers(ws.config):
        if mcp_server_id in (server_id(server.name), server.name):
            return server
    raise NotFound(f"MCP server '{mcp_server_id}' not found", "see GET /v1/mcp-servers/")


def _from_letta(name: str, config: dict[str, Any]) -> ServerConfig:
    """Letta's create/update config as memos's, refusing secret values it would have to write."""
    kind = config.get("mcp_server_type") or ("stdio" if "command" in config else "streamable_http")
    if kind == "stdio":
        command = config.get("command")
        if not isinstance(command, str) or not command:
            raise InvalidInput("a stdio MCP server needs a command")
        env, values = [], {}
        for key, value in (config.get("env") or {}).items():
            match = VARIABLE.match(str(value))
            if match is not None and match.group(1) == key:
                env.append(key)  # "${KEY}": memos's own value, by name
            elif mcp_servers.looks_secret(key):
                raise InvalidInput(f"memos never writes the value of {key} to its config",
                                   f"set {key} in memos's environment and send env {{\"{key}\": \"${{{key}}}\"}}")
            else:
                values[str(key)] = str(value)
        return ServerConfig(name, [command, *[str(a) for a in config.get("args") or []]], env=env, env_values=values)
    if kind in ("streamable_http", "sse"):
        headers = {str(k): str(v) for k, v in (config.get("custom_headers") or {}).items()}
        if config.get("auth_token"):
            headers[str(config.get("auth_header") or "Authorization")] = str(config["auth_token"])
        return ServerConfig(name, url=str(config.get("server_url") or ""), headers=headers, sse=kind == "sse")
    raise InvalidInput(f"'{kind}' is not an MCP server type", "use stdio, sse or streamable_http")


def _added(ws: Workspace, server: ServerConfig, replace: bool = False) -> dict[str, Any]:
    """Keep the server and list its tools. As Letta, a server that cannot be reached now is kept
    (its tools are listed when it can be); the reason goes to the server's log."""
    import logging

    mcp_servers.add_server(ws.config, server.name, command=server.command, url=server.url, env=server.env,
                           headers=server.headers, timeout=server.timeout, replace=replace, sse=server.sse,
                           env_values=server.env_values)
    try:
        mcp_tools.refresh(ws, server)
    except MCPError as exc:
        mcp_tools.forget(ws, server.name)
        logging.getLogger("memos.server").warning("MCP server %s: tools not listed: %s", server.name, exc)
    return _shape(server)


@router.get("/")
def list_servers(ws: WS) -> list[dict[str, Any]]:
    return [_shape(server) for server in mcp_servers.list_servers(ws.config)]


def _check_command_allowed(request: Request, server: ServerConfig, current: ServerConfig | None = None) -> None:
    """A stdio server is a command memos runs as its own user: over a tokenless API (which any
    local user, or a page on localhost, can reach) that is running code for anyone. Refused
    unless the server has a token or was started with --allow-mcp-stdio."""
    if server.url or request.app.state.allow_mcp_stdio:
        return
    if current is not None and current.command == server.command and not current.url:
        return  # the command the user configured, unchanged
    raise NotAllowed("adding an MCP server that runs a command is refused by a server without a token",
                     "start memos serve with a token (MEMOS_SERVER_TOKEN) or --allow-mcp-stdio, "
                     "or add it on this machine with `memos mcp add`")


@router.post("/")
def create_server(ws: WS, request: Request, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    name, config = body.get("server_name"), body.get("config")
    if not isinstance(name, str) or not isinstance(config, dict):
        raise InvalidInput("give server_name and config", "config: {mcp_server_type, command, args} or {server_url}")
    server = _from_letta(name, config)
    _check_command_allowed(request, server)
    return _added(ws, server)


@router.get("/{mcp_server_id}")
def get_server(ws: WS, mcp_server_id: str) -> dict[str, Any]:
    return _shape(_find(ws, mcp_server_id))


@router.patch("/{mcp_server_id}")
def update_server(ws: WS, request: Request, mcp_server_id: str,
                  body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    current = _find(ws, mcp_server_id)
    config = body.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidInput("config must be a JSON object")
    if body.get("server_name") not in (None, current.name):
        raise InvalidInput("an MCP server keeps its name", "remove it and add it under the new name")
    merged = {**(_shape(current)), **{k: v for k, v in config.items() if v is not None}}
    server = _from_letta(current.name, merged)
    _check_command_allowed(request, server, current)
    return _added(ws, server, replace=True)


@router.delete("/{mcp_server_id}")
def delete_server(ws: WS, mcp_server_id: str) -> dict[str, Any]:
    server = _find(ws, mcp_server_id)
    detached = mcp_tools.detach_everywhere(ws, server.name)
    mcp_servers.remove_server(ws.config, server.name)
    mcp_tools.forget(ws, server.name)
    hub().drop(server.name)
    return {"deleted": server_id(server.name), "detached": detached}


@router.get("/{mcp_server_id}/tools")
def list_tools(ws: WS, mcp_server_id: str) -> list[dict[str, Any]]:
    server = _find(ws, mcp_server_id)
    listed = mcp_tools.cached(ws, server.name)
    return [_tool_shape(server, t) for t in (listed if listed is not None else mcp_tools.refresh(ws, server))]


@router.get("/{mcp_server_id}/tools/{tool_id}")
def get_tool(ws: WS, mcp_server_id: str, tool_id: str) -> dict[str, Any]:
    server, tool = _tool(ws, mcp_server_id, tool_id)
    return _tool_shape(server, tool)


def _tool(ws: Workspace, mcp_server_id: str, tool_id: str) -> tuple[ServerConfig, RemoteTool]:
    server = _find(ws, mcp_server_id)
    for tool in mcp_tools.cached(ws, server.name) or mcp_tools.refresh(ws, server):
        if tool_id in (mcp_tools.tool_id(server.name, tool.name), tool.name):
            return server, tool
    raise NotFound(f"MCP server {server.name} has no tool '{tool_id}'")


@router.post("/{mcp_server_id}/tools/{tool_id}/run")
def run_tool(ws: WS, mcp_server_id: str, tool_id: str,
             body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """Call the tool now (Letta's ToolExecutionResult); a failing server is a status "error"."""
    server, tool = _tool(ws, mcp_server_id, tool_id)
    args = (body or {}).get("args") or {}
    if not isinstance(args, dict):
        raise InvalidInput("args must be a JSON object")
    try:
        return {"status": "success", "func_return": hub().call(server, tool.name, args), "stdout": [], "stderr": []}
    except MCPError as exc:
        return {"status": "error", "func_return": str(exc), "stdout": [], "stderr": []}


@router.patch("/{mcp_server_id}/refresh")
def refresh(ws: WS, mcp_server_id: str) -> dict[str, Any]:
    """List the server's tools again; attached tools whose schema changed get the new one."""
    server = _find(ws, mcp_server_id)
    before = {t.name for t in mcp_tools.cached(ws, server.name) or []}
    listed = mcp_tools.refresh(ws, server)
    now = {t.name for t in listed}
    return {"added": sorted(now - before), "removed": sorted(before - now), "total": len(listed),
            "updated_on_agents": mcp_tools.update_attached(ws, server.name)}
