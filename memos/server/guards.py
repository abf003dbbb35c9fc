"""Checks every request passes before it reaches a route: the bearer token, where a request
comes from (when there is no token), and how big its body is. Plain ASGI middleware, so a
refused request costs nothing of the app and a body is never read past its limit."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from memos.core.limits import MAX_NESTING, text_problem, value_problem

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = {"/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc", "/v1/health", "/v1/health/"}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


async def _refuse(send: Send, status: int, detail: str, hint: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"detail": detail, "hint": hint}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _host_name(value: str) -> str:
    """'127.0.0.1:8283' -> '127.0.0.1', '[::1]:8283' -> '::1', 'localhost' -> 'localhost'."""
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _same_origin(origin: str, host: str) -> bool:
    """A browser's Origin is this server's own (its /docs page) only with the Host's very name
    and port: any other page on localhost (a dev server on :3000, another app) is cross-origin,
    and its form posts need no preflight."""
    page = urlsplit(origin.strip().lower())
    if page.scheme not in ("http", "https") or not page.netloc:
        return False  # "null" (a sandboxed frame, a file:// page) and anything odd
    server = urlsplit(f"{page.scheme}://{host.strip().lower()}")  # the Host header, as that page would name it
    default = 443 if page.scheme == "https" else 80
    try:
        return (page.hostname, page.port or default) == (server.hostname, server.port or default)
    except ValueError:  # a port that is not a number
        return False


def bearer_matches(header: str | None, token: str) -> bool:
    """RFC 7235: the scheme is case-insensitive ('bearer x' is 'Bearer x'); the token is not."""
    scheme, _, given = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())


class Guards:
    """``token``: every route but docs and health needs it. Without one, the server answers only
    requests addressed to a loopback name (a DNS-rebinding page cannot reach it) and no
    cross-origin browser request (another site cannot drive it from a browser)."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is None:
            host = _header(scope, b"host") or ""
            if _host_name(host.lower()) not in LOOPBACK_NAMES:
                await _refuse(send, 403, f"Host '{host}' is not a loopback name of this server",
                              "reach it as 127.0.0.1, localhost or [::1], or start it with a token")
                return
            origin = _header(scope, b"origin")
            if origin is not None and not _same_origin(origin, host):
                await _refuse(send, 403, f"cross-origin request from '{origin}' refused",
                              "a tokenless server answers only pages it serves itself; start it with a token")
                return
        elif scope["path"] not in OPEN_PATHS and not bearer_matches(_header(scope, b"authorization"), self.token):
            given = _header(scope, b"authorization")
            await _refuse(send, 401, "wrong bearer token" if given else "this server needs a bearer token",
                          "send Authorization: Bearer <token>", [(b"www-authenticate", b"Bearer")])
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _refuse(send, 413, f"the request body is {int(length):,} bytes; at most {self.max_body:,} are taken",
                          "send less at once (long text: several archival inserts)")
            return
        problem = _address_problem(scope)
        if problem is not None:
            await _refuse(send, 422, problem, INPUT_HINT)
            return
        if _carries_json(scope):
            # The one input check (memos.core.limits): a NUL byte or a lone surrogate anywhere,
            # or nesting no client needs, is refused here for every route at once, before
            # anything is stored (PostgreSQL refuses NUL mid-write; a 260-deep metadata once
            # made every later agent listing fail).
            body = await _whole_body(receive, self.max_body)
            if body is None:
                await _refuse(send, 413, f"the request body is over {self.max_body:,} bytes", "send less at once")
                return
            problem = _json_problem(body)
            if problem is not None:
                await _refuse(send, 422, problem, INPUT_HINT)
                return
            receive = _replayed(body, receive)
        await self.app(scope, self._limited(receive, send), send)

    def _limited(self, receive: Receive, send: Send) -> Receive:
        """A body without a length (chunked) is counted as it arrives and cut off at the limit."""
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        return limited


INPUT_HINT = f"send UTF-8 text without NUL bytes, nested at most {MAX_NESTING} levels"


def _address_problem(scope: Scope) -> str | None:
    problem = text_problem(scope.get("path", ""))
    if problem:
        return f"the path {problem}"
    for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        problem = text_problem(key) or text_problem(value)
        if problem:
            return f"the query parameter {key[:40]!r} {problem}"
    return None


def _carries_json(scope: Scope) -> bool:
    if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    kind = (_header(scope, b"content-type") or "").lower()
    return not kind or "json" in kind  # FastAPI reads a body without a type as JSON too


async def _whole_body(receive: Receive, limit: int) -> bytes | None:
    """The request body (None past ``limit``); bounded by the size checks above."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _json_problem(body: bytes) -> str | None:
    if not body.strip():
        return None
    try:
        document = json.loads(body)
    except RecursionError:
        return f"the request body is nested deeper than {MAX_NESTING} levels"
    except ValueError:
        return None  # not JSON: the route's own validation says so (422 naming the field)
    return value_problem(document, "body")


def _replayed(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then waits on the real one (for the
    disconnect a streaming response watches for)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over {limit:,} bytes")
        self.limit = limit
