"""`memos serve`: the Letta-compatible REST API on 127.0.0.1:8283."""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Annotated

import typer

from memos.cli import output
from memos.errors import InvalidInput

if TYPE_CHECKING:
    from memos.core.schedules import ScheduleOutcome

DEFAULT_PORT = 8283


# Seconds the server keeps the database open between requests; another process that asks for it
# gets it within milliseconds all the same (store/duckdb/connection.py).
SERVER_IDLE = 10.0

def _said_schedule(outcome: ScheduleOutcome) -> None:
    if outcome.status == "completed":
        output.note(f"sent scheduled message {outcome.schedule.id}: run {outcome.run_id}")
    else:
        output.warn(f"scheduled message {outcome.schedule.id} failed: {outcome.detail}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port (0 picks a free one).")] = DEFAULT_PORT,
    token: Annotated[str | None, typer.Option(
        "--token", help="Require 'Authorization: Bearer TOKEN' (default: MEMOS_SERVER_TOKEN).")] = None,
    allow_mcp_stdio: Annotated[bool, typer.Option(
        "--allow-mcp-stdio", help="Let API clients add MCP servers that run a command (always allowed with a "
        "token; without one any local user could run code as you through it).")] = False,
) -> None:
    """Serve the Letta-compatible REST API (docs at /docs)."""
    token = token or os.environ.get("MEMOS_SERVER_TOKEN") or None
    if not is_loopback(host) and not token:
        raise InvalidInput(f"refusing to serve on {host} without a token: anyone who can reach it could read "
                           "and change your agents", "set MEMOS_SERVER_TOKEN or pass --token, or bind 127.0.0.1")
    import uvicorn

    from memos.core.workspace import Workspace
    from memos.server.app import create_app
    from memos.server.listen import listening_socket

    ws = Workspace()
    ws.store.defer_index_upkeep()  # search indexes catch up just after each write, off the request's path
    ws.store.keep_connection_idle(SERVER_IDLE)
    app = create_app(ws, token=token, allow_mcp_stdio=allow_mcp_stdio)
    sock = listening_socket(host, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    output.note(f"memos API on http://{shown}:{bound_port} (docs at /docs)" + ("; bearer token required" if token else ""))
    for line in ws.config.seed_cluster():  # this replica's settings where the cluster has none; drift said
        output.warn(line)
    from memos.core.warm import warm_up_in_background

    warm_up_in_background(ws)  # the first archival request or reply need not wait for model loads
    from memos.core.schedules import ScheduleWatcher

    # Scheduled messages fall due while the server runs: it sends them (each due time once, even
    # beside other replicas or a `memos schedule run` from cron).
    schedules = ScheduleWatcher(ws, on_outcome=_said_schedule, on_error=lambda exc: output.warn(
        f"looking for due scheduled messages failed: {exc}"))
    schedules.start()
    app.state.schedules = schedules  # the schedule routes poke it when they add one
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        schedules.stop()
        ws.store.wait_for_index_upkeep(5)  # the last writes' indexes, if it is quick (else the next search)
        ws.close()
