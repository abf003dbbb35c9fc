"""A small MCP server for the tests, written with the official SDK: stdio by default,
streamable HTTP with `http PORT`, the older SSE transport with `sse PORT`. Some tools
misbehave on purpose."""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("weather")


@server.tool()
def forecast(city: str, days: int = 1) -> str:
    """The weather forecast for a city."""
    return f"Sunny in {city} for {days} day(s)"


@server.tool()
def environment(variable: str) -> str:
    """The value of an environment variable in the server, or (unset)."""
    return os.environ.get(variable, "(unset)")


@server.tool()
def crash() -> str:
    """Exit the server at once."""
    os._exit(3)


@server.tool()
def hang() -> str:
    """Never answer."""
    time.sleep(3600)
    return "late"


@server.tool()
def garble() -> str:
    """Write something that is not JSON-RPC to the protocol stream, then exit."""
    sys.stdout.write("this is not JSON-RPC\n")
    sys.stdout.flush()
    os._exit(0)


@server.tool()
def fail(reason: str) -> str:
    """Fail with this reason (a ToolError: the SDK passes its message on)."""
    raise ToolError(reason)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif len(sys.argv) > 2 and sys.argv[1] == "sse":
        server.run("sse", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
