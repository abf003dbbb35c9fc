"""An agent's custom tools as the loop sees them: loaded from its repo, run in the sandbox.

Loading imports tool code, so it happens in the sandbox too. A tool whose file
breaks keeps its last good version (code snapshot and schema) in use, with a
warning, until the file is fixed; the other tools are not affected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from memos.core.workspace import Workspace
from memos.errors import MemosError, ToolCodeFailed
from memos.evolve.canary import Route, Router
from memos.store import ids
from memos.store.base import Agent, CanaryCall, CanaryOutcome, NewTool
from memos.tools.registry import ToolSpec
from memos.tools.repo import ToolRepo, tool_names_in
from memos.tools.sandbox import Limits, Sandbox, SandboxResult
from memos.tools.shared_code import current, main_in_store, tool_repo


class ToolFailed(ToolCodeFailed):
    """A custom tool call that ended in an error (the agent reads the message)."""


@dataclass(frozen=True)
class LoadedTool:
    name: str
    description: str
    parameters: dict[str, Any]
    file: str
    line: int | None
    commit: str | None
    files: dict[str, str] = field(repr=False)  # the code this version runs with

    def schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


@dataclass(frozen=True)
class LoadProblem:
    file: str
    line: int | None
    error: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.error}" if self.line else f"{self.file}: {self.error}"


def sandbox_limits(ws: Workspace) -> Limits:
    config = ws.config
    output = int(config.get("sandbox.output_kb")) * 1024
    return Limits(wall_seconds=float(config.get("sandbox.wall_seconds")), cpu_seconds=int(config.get("sandbox.cpu_seconds")),
                  memory_bytes=int(config.get("sandbox.memory_mb")) << 20, output_bytes=output)


FOLLOW_INTERVAL = 1.0  # seconds between a long session's looks at the shared store's tool code


class AgentTools:
    """``pinned``: the code that serves turns. On a store several machines share that is the
    commit the store records as main (a person's uncommitted edits in this home's copy do not
    run); else, and when not pinned (what `memos tools` checks before it commits), the working tree."""

    def __init__(self, ws: Workspace, agent: Agent, sandbox: Sandbox | None = None, *, pinned: bool = False) -> None:
        self.ws = ws
        self.agent = agent
        self.pinned = pinned and ws.store.cluster
        # Pinned, load() brings the repo up to the store (one sync a turn, not two).
        self.repo = ToolRepo(ws.home.tools_dir_of(agent)) if self.pinned else tool_repo(ws, agent)
        self.loaded_main: str | None = None  # pinned: the store's main that the loaded tools come from
        self._followed_at = 0.0
        self.sandbox = sandbox or Sandbox(sandbox_limits(ws))
        self.tools: dict[str, LoadedTool] = {}
        self.problems: list[LoadProblem] = []
        self._lock = threading.Lock()
        self.router = Router(ws, agent, self.repo)
        # Shadow mode runs the new version after the old one answered, on a thread and a sandbox
        # of its own; close() waits for what is still running, so a `memos send` records it.
        self._shadow_pool: ThreadPoolExecutor | None = None
        self._shadow_sandbox: Sandbox | None = None
        self._shadows: list[Future[None]] = []

    # -- loading ---------------------------------------------------------------------
    def load(self) -> list[str]:
        """(Re)load every tool from the working tree; returns warnings for the front end."""
        if self.pinned:
            self.repo, commit = current(self.ws, self.agent)
            files = self.repo.files_at(commit) if commit else {}
            names = tool_names_in(files)
            self.loaded_main, self._followed_at = commit, time.monotonic()
        else:
            files = self.repo.source_files()
            names = self.repo.tool_names()
            commit = self.repo.head() if not self.repo.changes() else None
        result = self.sandbox.describe(files, names) if names else SandboxResult(True, {"tools": [], "problems": []})
        if not result.ok:
            return [f"could not load the tools of {self.agent.name}: {result.message}"]
        loaded = {t["name"]: LoadedTool(t["name"], t["description"], t["parameters"], t["file"], t["line"], commit,
                                        files) for t in result.value["tools"]}
        problems = [LoadProblem(p["file"], p["line"], p["error"]) for p in result.value["problems"]]
        warnings = []
        with self._lock:
            for problem in problems:
                name = problem.file.removesuffix(".py")
                if name in self.tools:
                    loaded[name] = self.tools[name]  # keep the last good version running
                    warnings.append(f"tool {name} is broken ({problem}); still using its last good version")
                else:
                    warnings.append(f"tool {name} could not be loaded: {problem}")
            self.tools, self.problems = loaded, problems
        self._refresh_attached()
        return warnings

    def _refresh_attached(self) -> None:
        """Keep the stored schemas of attached tools in step with the code (the server lists them)."""
        for record in self.ws.store.list_agent_tools(self.agent.id):
            tool = self.tools.get(record.name)
            if tool is not None and tool.commit is None and self.ws.store.cluster:
                continue  # uncommitted edits in one home: the record describes what every replica runs
            if tool is not None and (record.json_schema != tool.schema() or record.repo_commit != tool.commit):
                self.ws.store.attach_tool(self.agent.id, self.new_tool(tool))

    @staticmethod
    def new_tool(tool: LoadedTool) -> NewTool:
        return NewTool(tool.name, tool.description, tool.schema(), tool.files.get(tool.file), tool.commit)

    def attach(self, name: str) -> LoadedTool:
        tool = self.get(name)
        if tool is None:
            problem = next((p for p in self.problems if p.file == f"{name}.py"), None)
            raise MemosError(f"tool {name} cannot be attached: " + (str(problem) if problem else "it is not in the repo"),
                             "fix the file, or see `memos tools list`")
        self.ws.store.attach_tool(self.agent.id, self.new_tool(tool))
        return tool

    def detach(self, name: str) -> bool:
        return self.ws.store.detach_tool(self.agent.id, name)

    # -- what the loop uses ------------------------------------------------------------
    def attached_names(self) -> list[str]:
        return [r.name for r in self.ws.store.list_agent_tools(self.agent.id)]

    def specs(self, attached: list[str] | None = None) -> dict[str, ToolSpec]:
        """The attached tools the loop offers: the repo's as loaded, and those of MCP servers."""
        from memos.mcp_tools.tools import is_mcp
        from memos.mcp_tools.tools import specs as mcp_specs

        self._follow_store()
        records = self.ws.store.list_agent_tools(self.agent.id)
        names = [r.name for r in records] if attached is None else attached
        limits = {r.name: r.return_char_limit for r in records}
        with self._lock:
            own = {name: ToolSpec(name, tool.description, tool.parameters, self._caller(tool), tool.commit,
                                  limits.get(name)) for name in names if (tool := self.tools.get(name)) is not None}
        remote = [r for r in records if is_mcp(r) and r.name in names]
        return {**own, **(mcp_specs(self.ws, remote) if remote else {})}

    def _follow_store(self) -> None:
        """Pinned in a long session: reload when another replica (or process) moved main, looking
        at most once a FOLLOW_INTERVAL."""
        if not self.pinned or time.monotonic() - self._followed_at < FOLLOW_INTERVAL:
            return
        self._followed_at = time.monotonic()
        if main_in_store(self.ws, self.agent) != self.loaded_main:
            self.load()

    def _caller(self, tool: LoadedTool) -> Callable[..., Any]:
        def call(ctx: Any, **arguments: Any) -> Any:
            result = self.run_routed(tool.name, arguments, ctx)
            if not result.ok:
                raise ToolFailed(result.for_agent().removeprefix("Error: "))
            return result.for_agent()

        return call

    def run(self, tool: LoadedTool, arguments: dict[str, Any]) -> SandboxResult:
        return self.sandbox.call(tool.files, tool.name, tool.name, arguments)

    def run_routed(self, name: str, arguments: dict[str, Any], ctx: Any) -> SandboxResult:
        """One live call: the old or the new version while the tool is a canary (recorded on
        ``ctx.canary_calls`` for the step to store), else the loaded version."""
        tool = self.get(name)
        if tool is None:
            raise MemosError(f"tool {name} is no longer loaded")
        route, reload = self.router.route(name, getattr(ctx, "call_id", None), tool.commit)
        if reload:  # a canary was promoted just now: main has the new code
            self.load()
            tool = self.get(name)
            if tool is None:
                raise MemosError(f"tool {name} is no longer loaded")
        if route is None:
            return self.run(tool, arguments)
        files = route.new_files if route.version == "new" else tool.files
        result = self.sandbox.call(files, tool.name, tool.name, arguments)
        if hasattr(ctx, "served_commit"):
            ctx.served_commit = route.commit
        if route.mode == "shadow":
            self._shadow(route, tool, arguments, result, getattr(ctx, "call_id", None))
        elif hasattr(ctx, "canary_calls"):
            ctx.canary_calls.append(_canary_call(route, tool.name, getattr(ctx, "call_id", None), result))
        return result

    def _shadow(self, route: Route, tool: LoadedTool, arguments: dict[str, Any], old: SandboxResult,
                call_id: str | None) -> None:
        with self._lock:
            if self._shadow_pool is None:
                self._shadow_pool = ThreadPoolExecutor(1, thread_name_prefix="memos-shadow")
                self._shadow_sandbox = Sandbox(sandbox_limits(self.ws))
            pool, sandbox = self._shadow_pool, self._shadow_sandbox
        assert sandbox is not None

        def compare() -> None:
            new = sandbox.call(route.new_files, tool.name, tool.name, arguments)
            differs = old.ok and new.ok and old.for_agent() != new.for_agent()
            served = _canary_call(route, tool.name, call_id, old)  # the old code, which answered
            self.ws.store.record_canary_calls([replace(served, shadow_outcome=_outcome(new), shadow_ms=new.duration_ms,
                                                       differs=differs)])

        self._shadows.append(pool.submit(compare))

    def get(self, name: str) -> LoadedTool | None:
        with self._lock:
            return self.tools.get(name)

    def close(self) -> None:
        for future in self._shadows:
            try:
                future.result(timeout=float(self.ws.config.get("sandbox.wall_seconds")) + 30)
            except Exception:  # noqa: BLE001 - a lost comparison must not fail the turn that is ending
                pass
        if self._shadow_pool is not None:
            self._shadow_pool.shutdown(wait=True)
        if self._shadow_sandbox is not None:
            self._shadow_sandbox.close()
        self.sandbox.close()


def _outcome(result: SandboxResult) -> CanaryOutcome:
    return "ok" if result.ok else "timeout" if result.error == "timeout" else "error"


def _canary_call(route: Route, tool: str, call_id: str | None, result: SandboxResult) -> CanaryCall:
    return CanaryCall(ids.new_id("canary"), route.evolution.id, route.evolution.agent_id, tool, call_id,
                      route.version, _outcome(result), result.duration_ms, len(result.for_agent()),
                      created_at=datetime.now(UTC))


def custom_tools_for(ws: Workspace, agent: Agent, *, always: bool = False,
                     warm: int = 0) -> tuple[AgentTools | None, list[str]]:
    """The agent's custom tools, loaded; None when it has none attached (unless ``always``, for watching)."""
    if not always and not ws.store.list_agent_tools(agent.id):
        return None, []
    tools = AgentTools(ws, agent, Sandbox(sandbox_limits(ws), warm=warm), pinned=True)
    return tools, tools.load()
