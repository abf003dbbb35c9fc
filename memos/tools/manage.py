"""What `memos tools ...` (and later the TUI and API) do with an agent's tools, front-end free."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memos.core.workspace import Workspace
from memos.errors import InvalidInput, MemosError, NotFound
from memos.store.base import Agent
from memos.tools import multi_agent
from memos.tools.custom import AgentTools, LoadedTool, LoadProblem
from memos.tools.registry import ToolSpec, check_arguments
from memos.tools.repo import check_tool_name
from memos.tools.sandbox import SandboxResult
from memos.tools.shared_code import changing


class ToolBroken(MemosError):
    """A tool file that does not load; its location is in the message."""


@dataclass(frozen=True)
class ToolRow:
    name: str
    kind: str  # builtin | custom
    attached: bool
    description: str
    file: str | None = None
    problem: str | None = None


def open_tools(ws: Workspace, agent: Agent) -> AgentTools:
    tools = AgentTools(ws, agent)
    tools.load()
    return tools


def _problem(tools: AgentTools, name: str) -> LoadProblem | None:
    return next((p for p in tools.problems if p.file == f"{name}.py"), None)


def require(tools: AgentTools, name: str) -> LoadedTool:
    tool = tools.get(name)
    if tool is not None:
        return tool
    problem = _problem(tools, name)
    if problem is not None:
        raise ToolBroken(f"tool {name} does not load: {problem}", f"fix it with `memos tools edit {name}`")
    raise NotFound(f"no tool named '{name}'", "see `memos tools list`")


def list_tools(tools: AgentTools) -> list[ToolRow]:
    """Built-ins, the repo's tools, and the tools of every configured MCP server (as last listed)."""
    from memos.mcp_tools import tools as mcp
    from memos.tools.builtins import builtin_specs

    records = tools.ws.store.list_agent_tools(tools.agent.id)
    given = {r.name for r in records if r.source_type == multi_agent.SOURCE_TYPE}
    attached = {r.name for r in records if not mcp.is_mcp(r)} - given
    rows = [ToolRow(s.name, "builtin", True, s.description) for s in builtin_specs().values()]
    rows += [ToolRow(s.name, "letta", s.name in given, s.description) for s in multi_agent.MULTI_AGENT_TOOLS.values()]
    for name in tools.repo.tool_names():
        tool, problem = tools.get(name), _problem(tools, name)
        rows.append(ToolRow(name, "custom", name in attached, tool.description if tool else "", f"{name}.py",
                            str(problem) if problem else None))
    for name in sorted(attached - set(tools.repo.tool_names())):
        rows.append(ToolRow(name, "custom", True, "", None, "attached, but its file is gone from the repo"))
    remote_attached = {r.source_code or "": r for r in records if mcp.is_mcp(r)}
    listed = set()
    for server, remote in mcp.known_tools(tools.ws):
        name = mcp.address(server.name, remote.name)
        listed.add(name)
        rows.append(ToolRow(name, "mcp", name in remote_attached, remote.description))
    for name in sorted(set(remote_attached) - listed):
        rows.append(ToolRow(name, "mcp", True, remote_attached[name].description, None,
                            "attached, but its server no longer lists it (memos mcp tools SERVER)"))
    return rows


def attach(tools: AgentTools, name: str) -> str:
    """Attach a repo tool, or an MCP server's (mcp:SERVER/tool); returns the name the model sees."""
    from memos.mcp_tools import tools as mcp

    if name.startswith("mcp:"):
        return mcp.attach(tools.ws, tools.agent, *mcp.parse_address(name)).name
    if name in multi_agent.MULTI_AGENT_TOOLS and tools.get(name) is None:  # Letta's, not a repo tool of that name
        multi_agent.attach(tools.ws.store, tools.agent, multi_agent.MULTI_AGENT_TOOLS[name])
        return name
    return tools.attach(name).name


def detach(tools: AgentTools, name: str) -> bool:
    from memos.mcp_tools import tools as mcp

    if name.startswith("mcp:"):
        return mcp.detach(tools.ws, tools.agent, *mcp.parse_address(name))
    return tools.detach(name)


def _check_loads(tools: AgentTools, name: str) -> LoadedTool:
    tools.load()
    return require(tools, name)


def new_tool(tools: AgentTools, name: str, description: str, *, attach: bool = True) -> LoadedTool:
    with changing(tools.ws, tools.agent):
        tools.repo.new_tool(check_tool_name(name), description)
        tools.repo.commit_all(f"Add tool {name}")
    tool = _check_loads(tools, name)
    if attach:
        tools.attach(name)
    return tool


def import_tool(tools: AgentTools, source: Path, name: str | None = None, *, attach: bool = True) -> LoadedTool:
    with changing(tools.ws, tools.agent):
        target = tools.repo.import_file(source, name)
        tools.load()
        problem = _problem(tools, target.stem)
        if problem is not None:
            target.unlink()
            raise ToolBroken(f"{source} does not load as a tool: {problem}".replace(f"{target.stem}.py:", f"{source}:"),
                             f"it needs a function named {target.stem} with type hints and a docstring")
        tools.repo.commit_all(f"Import tool {target.stem} from {source.name}")
    tools.load()
    if attach:
        tools.attach(target.stem)
    return require(tools, target.stem)


def after_edit(tools: AgentTools, name: str) -> str | None:
    """Commit an edited tool if it still loads; a broken edit is left uncommitted and reported."""
    with changing(tools.ws, tools.agent):
        tool = _check_loads(tools, name)
        commit = tools.repo.commit_all(f"Edit tool {name}")
    if commit and tool.name in tools.attached_names():
        tools.load()
    return commit


def remove_tool(tools: AgentTools, name: str) -> None:
    with changing(tools.ws, tools.agent):
        tools.repo.remove_tool(name)
        tools.detach(name)
        tools.repo.commit_all(f"Remove tool {name}")
    tools.load()


def commit_changes(tools: AgentTools, message: str | None) -> tuple[str | None, list[str]]:
    """Commit what was changed by hand; returns (commit, tools newly attached)."""
    with changing(tools.ws, tools.agent):
        changes = tools.repo.changes()
        if not changes:
            return None, []
        tools.load()
        broken = [p for p in tools.problems if any(c.path == p.file for c in changes)]
        if broken:
            raise ToolBroken(f"not committed: {broken[0]}", "fix the file first (the last good version stays in use)")
        summary = message or "Update tools by hand: " + ", ".join(c.path for c in changes[:5])
        commit = tools.repo.commit_all(summary)
    attached = set(tools.attached_names())
    added = [c.path.removesuffix(".py") for c in changes
             if c.status in ("untracked", "added") and c.path.removesuffix(".py") in tools.tools]
    newly = [name for name in added if name not in attached]
    for name in newly:
        tools.attach(name)
    tools.load()
    return commit, newly


def parse_arguments(raw: str | None) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the arguments are not valid JSON ({exc.msg} at column {exc.colno})",
                           'pass a JSON object, e.g. \'{"city": "Paris"}\'') from None
    if not isinstance(value, dict):
        raise InvalidInput("the arguments must be a JSON object", 'e.g. \'{"city": "Paris"}\'')
    return value


def run_tool(tools: AgentTools, name: str, arguments: dict[str, Any]) -> SandboxResult:
    tool = require(tools, name)
    check_arguments(name, tool.parameters, arguments)
    return tools.run(tool, arguments)


@dataclass(frozen=True)
class ToolRun:
    ok: bool
    value: Any
    stdout: str = ""
    stderr: str = ""


def run_now(ws: Workspace, agent: Agent, name: str, arguments: dict[str, Any]) -> ToolRun:
    """Run one of the agent's tools by hand (the API's tools/{name}/run): a built-in against the
    agent's memory, a custom tool in the sandbox. Not a turn: nothing goes into the message log."""
    from memos.tools.builtins import ToolContext, builtin_specs

    spec = builtin_specs().get(name)
    if spec is not None:
        return _run_spec(spec, ToolContext(ws.store, agent, actor="agent"), arguments)
    tools = AgentTools(ws, agent, pinned=True)  # the code turns run: the store's, on a shared store
    tools.load()
    try:
        if name not in tools.attached_names():
            raise NotFound(f"agent '{agent.name}' has no tool named '{name}' attached", "attach it first")
        remote = tools.specs([name]).get(name)
        if remote is not None and tools.get(name) is None:  # an MCP server's tool
            return _run_spec(remote, None, arguments)
        try:
            result = run_tool(tools, name, arguments)
        except InvalidInput as exc:  # arguments that do not fit: a failed run, as Letta answers it
            return ToolRun(False, None, stderr=str(exc))
    finally:
        tools.close()
    return ToolRun(result.ok, result.value if result.ok else result.for_agent(), result.stdout, result.stderr)


def _run_spec(spec: ToolSpec, ctx: Any, arguments: dict[str, Any]) -> ToolRun:
    """A built-in or an MCP tool run now: arguments that do not fit are a failed run (no value, the
    reason on stderr), as Letta answers them; a tool's own failure is its error text."""
    try:
        check_arguments(spec.name, spec.parameters, arguments)
    except InvalidInput as exc:
        return ToolRun(False, None, stderr=str(exc))
    try:
        return ToolRun(True, spec.function(ctx, **arguments))
    except MemosError as exc:
        return ToolRun(False, f"Error: {exc}")


def run_tests(tools: AgentTools, selection: list[str] | None = None) -> SandboxResult:
    args = [f"tests/test_{name}.py" for name in selection] if selection else []
    for path in args:
        if not (tools.repo.path / path).exists():
            raise NotFound(f"no test file {path} in the repo", "write one, or run `memos tools test` for all")
    return tools.sandbox.pytest(tools.repo.source_files(), args)
