"""Connections to MCP servers from memos's synchronous code, through the official ``mcp`` SDK.

The SDK is async; memos's loop is not. A process that uses MCP tools gets one event loop on a
daemon thread, and one long-lived session per server on it (a stdio server is started once per
process, not once per call). A call waits at most the server's timeout; a server that crashed,
hung or answered garbage is dropped, the call fails with one line the agent reads, and the
next call starts the server afresh.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from memos.errors import MemosError
from memos.mcp_tools.servers import ServerConfig

CONNECT_SECONDS = 30.0  # starting a server and the protocol handshake
CLOSE_SECONDS = 10.0  # an ending session's time to stop its server before it is cancelled


class MCPError(MemosError):
    """An MCP server that failed, timed out or answered something that is not a tool result."""


@dataclass(frozen=True)
class RemoteTool:
    name: str
    description: str
    input_schema: dict[str, Any]


class _Session:
    """One server's connection: a task on the hub's loop that runs the requests it is given, one
    at a time, each within the server's timeout. A request that times out ends the session the
    orderly way (the SDK then stops a stdio server, killing it if it will not exit), so no server
    process outlives its session; the next request starts a new one."""

    def __init__(self, server: ServerConfig, loop: asyncio.AbstractEventLoop, errlog: Any) -> None:
        self.server = server
        self.loop = loop
        self.errlog = errlog
        self.requests: asyncio.Queue[tuple[Callable[[Any], Awaitable[Any]], Future[Any], str] | None] = \
            asyncio.Queue()
        self.failure: MCPError | None = None  # set (on the loop) once the connection is gone
        self.task = loop.create_task(self._run())
        self._stopping: Future[None] | None = None

    async def _run(self) -> None:
        pending: list[Future[Any]] = []
        try:
            async with self._client() as client:
                while True:
                    item = await self.requests.get()
                    if item is None:
                        return
                    work, future, what = item
                    if not future.set_running_or_notify_cancel():
                        continue
                    pending = [future]
                    try:
                        future.set_result(await asyncio.wait_for(work(client), self.server.timeout))
                    except TimeoutError:
                        future.set_exception(MCPError(
                            f"MCP server {self.server.name} did not answer {what} within {self.server.timeout:g} s"))
                        self.failure = MCPError(f"MCP server {self.server.name} timed out")
                        return  # close the connection: a hung server is stopped with it
                    except Exception as exc:  # the call's own failure: the session may live on
                        if not future.done():
                            future.set_exception(exc)
                    pending = []
        except BaseException as exc:
            # The connection is gone (the server exited, or never started): fail what waits,
            # and (self.failure) whatever is submitted later.
            self.failure = MCPError(f"MCP server {self.server.name} stopped: {_reason(exc)}")
            for future in pending:
                if not future.done():
                    future.set_exception(self.failure)
            if not isinstance(exc, Exception):
                raise
        finally:
            for future in self._drain():
                if not future.done():
                    future.set_exception(self.failure or MCPError(f"MCP server {self.server.name} was closed"))

    def _drain(self) -> list[Future[Any]]:
        futures = []
        while not self.requests.empty():
            item = self.requests.get_nowait()
            if item is not None:
                futures.append(item[1])
        return futures

    async def closed(self) -> None:
        """Wait for the session to end; after CLOSE_SECONDS, cancel it (a last resort)."""
        try:
            await asyncio.wait_for(asyncio.shield(self.task), CLOSE_SECONDS)
        except BaseException:  # noqa: BLE001 - timed out or failed: it is being stopped either way
            self.task.cancel()

    def _client(self) -> Any:
        from contextlib import asynccontextmanager

        from mcp import Client

        server = self.server

        @asynccontextmanager
        async def connected() -> Any:
            if server.url and server.sse:
                from mcp.client.sse import sse_client

                async with Client(sse_client(server.url, headers=server.header_values())) as client:
                    yield client
            elif server.url:
                from mcp.client.streamable_http import streamable_http_client
                from mcp.shared._httpx_utils import create_mcp_http_client

                async with create_mcp_http_client(headers=server.header_values()) as http, \
                        Client(streamable_http_client(server.url, http_client=http)) as client:
                    yield client
            else:
                from mcp.client.stdio import StdioServerParameters, stdio_client

                params = StdioServerParameters(command=server.command[0], args=server.command[1:],
                                               env=server.environment())
                async with Client(stdio_client(params, errlog=self.errlog)) as client:
                    yield client

        return connected()

    def submit(self, work: Callable[[Any], Awaitable[Any]], what: str) -> Future[Any]:
        future: Future[Any] = Future()

        def enqueue() -> None:  # on the loop, so it cannot slip past a failure being handled
            if self.failure is not None or self.task.done():
                future.set_exception(self.failure or MCPError(f"MCP server {self.server.name} was closed"))
            else:
                self.requests.put_nowait((work, future, what))

        self.loop.call_soon_threadsafe(enqueue)
        return future

    @property
    def alive(self) -> bool:
        return not self.task.done() and self.failure is None

    def stop(self) -> Future[None]:
        """End the session after what it is running (the server process ends with it); the
        future is done once it has ended. Asking again returns the same future."""
        if self._stopping is None:
            self.loop.call_soon_threadsafe(self.requests.put_nowait, None)
            self._stopping = asyncio.run_coroutine_threadsafe(self.closed(), self.loop)
        return self._stopping


class Hub:
    """This process's MCP sessions, by server name."""

    def __init__(self, errlog_path: str | None = None) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sessions: dict[str, _Session] = {}
        self._ended: list[_Session] = []  # dropped or replaced: close() still waits for their servers
        # A server's stderr, and the SDK's own log (it logs a garbled line with a traceback), go to
        # a log file: memos's stderr is for its diagnostics and stdout for its data.
        self._errlog = open(errlog_path, "a", encoding="utf-8") if errlog_path else open(os.devnull, "w")  # noqa: SIM115
        self._log_handler = logging.StreamHandler(self._errlog)
        sdk_log = logging.getLogger("mcp")
        sdk_log.propagate = False
        sdk_log.addHandler(self._log_handler)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="memos-mcp", daemon=True).start()
            self._loop = loop
        return self._loop

    def _session(self, server: ServerConfig) -> _Session:
        with self._lock:
            session = self._sessions.get(server.name)
            if session is None or not session.alive or session.server != server:
                if session is not None:
                    session.stop()
                    self._ended.append(session)
                loop = self._running_loop()
                session = asyncio.run_coroutine_threadsafe(_make(server, loop, self._errlog), loop).result()
                self._sessions[server.name] = session
            return session

    def _run(self, server: ServerConfig, work: Callable[[Any], Awaitable[Any]], what: str) -> Any:
        session = self._session(server)
        future = session.submit(work, what)
        try:
            # The session times the call itself; this wait adds the server's start-up and a margin.
            return future.result(timeout=server.timeout + CONNECT_SECONDS + CLOSE_SECONDS)
        except FutureTimeout:
            self.drop(server.name)  # a server that did not even start: the next call tries afresh
            raise MCPError(f"MCP server {server.name} did not answer {what}") from None
        except MemosError as exc:
            self.drop(server.name)  # the connection is gone, or the server could not be started
            if isinstance(exc, MCPError):
                raise
            raise MCPError(f"MCP server {server.name}: {exc}") from None
        except Exception as exc:  # a protocol failure: start afresh next time
            self.drop(server.name)
            raise MCPError(f"MCP server {server.name} failed {what}: {_reason(exc)}") from None

    def list_tools(self, server: ServerConfig) -> list[RemoteTool]:
        async def work(client: Any) -> list[RemoteTool]:
            listed = await client.list_tools()
            return [RemoteTool(t.name, t.description or "", dict(t.input_schema or {"type": "object"}))
                    for t in listed.tools]

        return self._run(server, work, "the list of its tools")

    def call(self, server: ServerConfig, tool: str, arguments: dict[str, Any]) -> str:
        """The tool's result as text; MCPError (the agent reads its message) when it failed."""
        async def work(client: Any) -> Any:
            return await client.call_tool(tool, arguments)

        result = self._run(server, work, f"a call of {tool}")
        text = result_text(result)
        if getattr(result, "is_error", False):
            raise MCPError(f"{tool} on MCP server {server.name} failed: {text}")
        return text

    def drop(self, name: str) -> None:
        with self._lock:
            session = self._sessions.pop(name, None)
            if session is not None:
                self._ended.append(session)
        if session is not None:
            session.stop()

    def close(self) -> None:
        """Stop every session (a stdio server process ends with its session)."""
        with self._lock:
            sessions, self._sessions = [*self._sessions.values(), *self._ended], {}
            self._ended = []
        loop = self._loop
        if loop is not None:
            stopping = [session.stop() for session in sessions]
            deadline = time.monotonic() + CLOSE_SECONDS + 5
            for future in stopping:
                try:
                    future.result(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:  # closing is best effort: the process is leaving
                    pass
            loop.call_soon_threadsafe(loop.stop)
            self._loop = None
        logging.getLogger("mcp").removeHandler(self._log_handler)
        self._errlog.close()


async def _make(server: ServerConfig, loop: asyncio.AbstractEventLoop, errlog: Any) -> _Session:
    return _Session(server, loop, errlog)


def result_text(result: Any) -> str:
    """A CallToolResult as the text the agent reads: its text parts, else its structured content."""
    parts = []
    for item in getattr(result, "content", None) or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(str(getattr(item, "text", "")))
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {getattr(item, 'mime_type', '')}]")
        elif kind in ("resource", "resource_link"):
            resource = getattr(item, "resource", None)
            parts.append(str(getattr(resource, "text", None) or getattr(item, "uri", None) or f"[{kind}]"))
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    if not parts and not hasattr(result, "content"):
        raise MCPError(f"the answer is not a tool result ({type(result).__name__})")
    return "\n".join(parts)


def _reason(exc: BaseException) -> str:
    """One line for an exception, the SDK's exception groups unwrapped to their first cause."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_hub: Hub | None = None
_hub_lock = threading.Lock()


def hub() -> Hub:
    """The process's hub (sessions live as long as the process, closed at exit)."""
    global _hub
    with _hub_lock:
        if _hub is None:
            import atexit

            from memos.core.home import memos_home

            logs = memos_home().logs_dir
            logs.mkdir(parents=True, exist_ok=True)
            _hub = Hub(str(logs / "mcp-servers.log"))
            atexit.register(_hub.close)
        return _hub
