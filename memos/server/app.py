"""The FastAPI application: Letta's /v1 routes over memos's core and store.

Routes live in one module per resource (memos/server/routes); this module wires
them with the workspace, bearer-token auth and JSON errors.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from memos import __version__
from memos.core.limits import MAX_REQUEST_BYTES
from memos.core.workspace import Workspace
from memos.errors import (
    AgentBusy,
    AlreadyExists,
    BadAgentFile,
    ConfigError,
    Contradictory,
    DatabaseBusy,
    DatabaseUnavailable,
    EmbeddingError,
    InvalidInput,
    LimitExceeded,
    MemosError,
    NotAllowed,
    NotFound,
    NothingRunning,
    NothingToDo,
    ProviderError,
    ReadOnly,
    ToolCodeMoved,
    first_line,
    storage_problem,
)
from memos.server.guards import BodyTooLarge, Guards
from memos.server.turns import Turns

# What each memos error means over HTTP.
STATUS = [(NotFound, 404), (AlreadyExists, 409), (AgentBusy, 409), (ToolCodeMoved, 409), (ReadOnly, 403), (NotAllowed, 403), (LimitExceeded, 422), (BadAgentFile, 400), (NothingToDo, 400), (Contradictory, 400), (NothingRunning, 409), (InvalidInput, 422),
          (ConfigError, 422), (EmbeddingError, 422), (DatabaseBusy, 503), (DatabaseUnavailable, 503),
          (ProviderError, 502)]


def status_of(exc: MemosError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def error_body(exc: MemosError) -> dict[str, Any]:
    return {"detail": exc.message, "hint": exc.hint}


def create_app(ws: Workspace | None = None, *, token: str | None = None, allow_mcp_stdio: bool = False) -> FastAPI:
    """The API. ``allow_mcp_stdio``: let clients add MCP servers that memos starts as a command
    (always allowed with a token; without one, any local user or page could run code as memos's
    user through it)."""
    from memos.server.routes import (
        agents,
        archival,
        archives,
        chat_completions,
        conversations,
        evolutions,
        folders,
        groups,
        identities,
        mcp,
        memory,
        message_lookup,
        messages,
        meta,
        passage_search,
        runs,
        schedules,
        tools,
    )

    app = FastAPI(title="memos", version=__version__,
                  description="A Letta-compatible API for memos agents: point Letta's clients at it.")
    app.state.ws = ws or Workspace()
    app.state.turns = Turns(app.state.ws)
    app.state.allow_mcp_stdio = bool(token) or allow_mcp_stdio
    app.add_middleware(Guards, token=token or None, max_body=MAX_REQUEST_BYTES)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "hint": "send less at once"}, status_code=413)

    @app.exception_handler(MemosError)
    async def memos_error(request: Request, exc: MemosError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # JSON like every other answer, never a plain-text page; the traceback goes to the log.
        problem = storage_problem(exc)
        if problem is not None:
            return JSONResponse(error_body(problem), status_code=507)
        logging.getLogger("memos.server").error("unexpected failure on %s %s", request.method, request.url.path,
                                                 exc_info=exc)
        return JSONResponse({"detail": f"unexpected failure: {type(exc).__name__}: {first_line(exc)}",
                             "hint": "this is a memos bug; the server's log has the details"}, status_code=500)

    app.include_router(message_lookup.agents_router)  # /v1/agents/messages/search, before /agents/{agent_id}
    for module in (meta, agents, memory, messages, chat_completions, message_lookup, passage_search, identities, schedules, archives, conversations, folders, groups, archival, tools, evolutions, runs,
                   mcp):
        app.include_router(module.router)
    return app
