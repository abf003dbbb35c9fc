"""The FastAPI application: Letta's /v1 routes over memos's core and store.

Routes live in one module per resource (memos/server/routes); this module wires
them with the workspace, bearer-token auth and JSON errors.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from memos import __version__
from memos.core.workspace import Workspace
from memos.errors import (
    AgentBusy, AlreadyExists, ConfigError, DatabaseBusy, DatabaseUnavailable, EmbeddingError, InvalidInput, LimitExceeded, MemosError, NotFound,
    ProviderError, ReadOnly,
)
from memos.server.turns import Turns

# What each memos error means over HTTP.
STATUS = [(NotFound, 404), (AlreadyExists, 409), (AgentBusy, 409), (ReadOnly, 403), (LimitExceeded, 422), (InvalidInput, 422),
          (ConfigError, 422), (EmbeddingError, 422), (DatabaseBusy, 503), (DatabaseUnavailable, 503),
          (ProviderError, 502)]
OPEN_PATHS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/v1/health", "/v1/health/"}


def status_of(exc: MemosError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 400)


def error_body(exc: MemosError) -> dict[str, Any]:
    return {"detail": exc.message, "hint": exc.hint}


class BearerAuth(BaseHTTPMiddleware):
    """Every route but the docs and health needs `Authorization: Bearer <token>` when a token is set."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.expected = f"Bearer {token}".encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path not in OPEN_PATHS:
            given = request.headers.get("authorization", "").encode()
            if not secrets.compare_digest(given, self.expected):
                detail = "wrong bearer token" if given else "this server needs a bearer token"
                return JSONResponse({"detail": detail, "hint": "send Authorization: Bearer <token>"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)


def create_app(ws: Workspace | None = None, *, token: str | None = None) -> FastAPI:
    from memos.server.routes import agents, archival, memory, messages, meta, tools

    app = FastAPI(title="memos", version=__version__,
                  description="A Letta-compatible API for memos agents: point Letta's clients at it.")
    app.state.ws = ws or Workspace()
    app.state.turns = Turns(app.state.ws)
    if token:
        app.add_middleware(BearerAuth, token=token)

    @app.exception_handler(MemosError)
    async def memos_error(request: Request, exc: MemosError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    for module in (meta, agents, memory, messages, archival, tools):
        app.include_router(module.router)
    return app
