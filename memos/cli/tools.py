"""`memos tools`: the agent's own tools (a git repo of Python files) and the sandbox they run in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memos.cli import output
from memos.cli.common import AgentOpt, JsonOpt, YesOpt, agent_and_workspace, confirm

if TYPE_CHECKING:
    from memos.tools.custom import AgentTools

app = typer.Typer(help="The agent's own tools: write, test, run, attach.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Tool name (a Python identifier; the file is <name>.py), or mcp:SERVER/tool.")]


def _tools(agent: str | None) -> AgentTools:
    from memos.tools.manage import open_tools

    ws, resolved = agent_and_workspace(agent)
    tools = open_tools(ws, resolved)
    return tools


def _schema_json(tool) -> dict:
    return {"name": tool.name, "description": tool.description, "parameters": tool.parameters,
            "file": tool.file, "line": tool.line, "commit": tool.commit}


def _added(tool, data: str, what: str, attached: bool, json_out: bool, hint: str = "") -> None:
    if json_out:
        output.emit_json(_schema_json(tool))
        return
    output.plain(data)
    output.note(f"{what}{' (attached)' if attached else ''}{hint}")


@app.command("list")
def list_tools(agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """List built-in and custom tools, attached or not, and tools that fail to load."""
    from memos.tools.manage import list_tools as rows_of

    tools = _tools(agent)
    rows = rows_of(tools)
    tools.close()
    if json_out:
        output.emit_json(rows)
        return
    output.table(["name", "kind", "attached", "description"],
                 [(r.name, r.kind, "yes" if r.attached else "no",
                   f"BROKEN: {r.problem}" if r.problem else output.shorten(r.description, 60)) for r in rows])


@app.command("show")
def show(name: NameArg, agent: AgentOpt = None, json_out: JsonOpt = False) -> None:
    """Show a tool's JSON schema and source."""
    from memos.tools.library import requires_approval
    from memos.tools.manage import require

    tools = _tools(agent)
    tool = require(tools, name)
    tools.close()
    gated = requires_approval(tools.ws, tools.agent, tool.name)
    if json_out:
        output.emit_json({**_schema_json(tool), "source": tool.files.get(tool.file, ""), "requires_approval": gated})
        return
    output.note(f"{tool.file} ({'commit ' + tool.commit[:10] if tool.commit else 'uncommitted changes'})"
                + ("; asks for approval before each call" if gated else ""))
    output.plain(json.dumps({"name": tool.name, "description": tool.description, "parameters": tool.parameters},
                            indent=2))
    output.plain(tool.files.get(tool.file, ""))


@app.command("approval")
def approval(
    name: Annotated[str, typer.Argument(help="The tool's name (a built-in, the agent's own, or a library tool).")],
    setting: Annotated[str | None, typer.Argument(metavar="[on|off]", help="Ask before each call, or not "
                                                                          "(leave out to see the setting).")] = None,
    agent: AgentOpt = None,
    library: Annotated[bool, typer.Option("--library", help="The shared library tool's default, for every agent "
                                                             "given it (Letta's default_requires_approval).")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Whether calls of a tool wait for a person's approval (`memos approve` / `memos deny`): for the
    agent, or with --library the library tool's default. Turning the default on gates the agents
    that have the tool now as well; an agent's own setting can then turn it off for that agent."""
    from memos.core.workspace import Workspace
    from memos.errors import InvalidInput
    from memos.tools import library as tool_library

    if setting is not None and setting not in ("on", "off"):
        raise InvalidInput(f"'{setting}' is neither on nor off", "memos tools approval NAME on|off")
    wanted = None if setting is None else setting == "on"
    if library:
        ws = Workspace()
        record = tool_library.library_tool(ws, name)
        if wanted is not None:
            record = tool_library.update(ws, record, requires_approval=wanted)
        view = {"tool": name, "library": True, "requires_approval": bool(record.requires_approval)}
    else:
        ws, current = agent_and_workspace(agent)
        tool_library.agent_tool(ws, current, name)  # one it has (a built-in, or attached)
        if wanted is not None:
            tool_library.set_requires_approval(ws, current, name, wanted)
            current = ws.store.get_agent(current.id)
        view = {"tool": name, "agent": current.name,
                "requires_approval": tool_library.requires_approval(ws, current, name)}
    if json_out:
        output.emit_json(view)
        return
    whose = "the library's default" if library else f"agent '{view['agent']}'"
    asks = "asks before each call" if view["requires_approval"] else "runs without asking"
    output.note(f"{name}: {asks} ({whose})")


@app.command("new")
def new(
    name: NameArg,
    description: Annotated[str, typer.Option("--description", "-d", help="What the tool does (its docstring).")] = "",
    attach: Annotated[bool, typer.Option(help="Attach it to the agent.")] = True,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write a tool from the template (with a test) and commit it."""
    from memos.tools.manage import new_tool

    tools = _tools(agent)
    tool = new_tool(tools, name, description, attach=attach)
    tools.close()
    _added(tool, str(tools.repo.tool_file(name)), f"created tool {name}", attach, json_out,
           f"; edit it with `memos tools edit {name}`")


@app.command("edit")
def edit(name: NameArg, agent: AgentOpt = None) -> None:
    """Open a tool in $EDITOR; commit it when saved and it still loads."""
    import os
    import shlex
    import subprocess

    from memos.errors import InvalidInput
    from memos.tools.manage import after_edit, require

    tools = _tools(agent)
    path = tools.repo.tool_file(name)
    if not path.exists():
        require(tools, name)  # raises the usual "no tool named" error
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    before = path.read_bytes()
    try:
        code = subprocess.run([*shlex.split(editor), str(path)]).returncode
    except FileNotFoundError:
        raise InvalidInput(f"cannot start the editor '{editor}'", "set EDITOR") from None
    if code != 0:
        raise InvalidInput(f"the editor exited with status {code}; nothing committed")
    if path.read_bytes() == before:
        output.note(f"{path.name} unchanged; nothing committed")
        return
    commit = after_edit(tools, name)
    tools.close()
    output.note(f"committed {path.name} ({commit[:10]})" if commit else f"{path.name} unchanged")


@app.command("commit")
def commit(
    message: Annotated[str | None, typer.Option("--message", "-m", help="Commit message.")] = None,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Commit changes made by hand in the tool repo (new tools are attached)."""
    from memos.tools.manage import commit_changes

    tools = _tools(agent)
    sha, attached = commit_changes(tools, message)
    tools.close()
    if json_out:
        output.emit_json({"commit": sha, "attached": attached})
        return
    if sha is None:
        output.note("nothing to commit")
        return
    output.plain(sha)
    if attached:
        output.note(f"attached new tools: {', '.join(attached)}")


@app.command("test")
def test(
    names: Annotated[list[str] | None, typer.Argument(help="Only these tools' tests (default: all).")] = None,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the repo's tests (pytest) in the sandbox."""
    from memos.tools.manage import run_tests

    tools = _tools(agent)
    result = run_tests(tools, names)
    tools.close()
    if json_out:
        output.emit_json(result.to_dict())
    else:
        if result.stdout:
            output.plain(result.stdout)
        if not result.ok:
            output.warn(f"the tests did not finish: {result.message}")
    if not result.ok or result.value.get("exit_code") not in (0, 5):
        raise typer.Exit(1)


@app.command("run")
def run(
    name: NameArg,
    arguments: Annotated[str | None, typer.Argument(help='Arguments as a JSON object ("-" reads stdin).')] = None,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Call one tool in the sandbox with JSON arguments; print what it returns."""
    from memos.cli.inputs import read_stdin, stdin_is_piped
    from memos.tools.manage import parse_arguments, run_tool

    raw = read_stdin() if arguments == "-" or (arguments is None and stdin_is_piped()) else arguments
    tools = _tools(agent)
    result = run_tool(tools, name, parse_arguments(raw))
    tools.close()
    if json_out:
        output.emit_json(result.to_dict())
        raise typer.Exit(0 if result.ok else 1)
    if result.stdout:
        output.err().file.write(result.stdout)  # the tool's prints are diagnostics; its value is the data
    if result.ok:
        value = result.value
        output.plain(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2))
        return
    # The traceback ends with the exception's line, which the error line below says again.
    trace = result.stderr.rstrip("\n")
    if result.message and trace.endswith(result.message):
        trace = trace[: -len(result.message)].rstrip("\n")
    if trace.strip():
        output.err().file.write(trace + "\n")
    from memos.errors import MemosError

    raise MemosError(f"tool {name} failed ({result.error}): {result.message}")


@app.command("attach")
def attach(name: NameArg, agent: AgentOpt = None) -> None:
    """Let the agent use a tool from its repo, or an MCP server's tool (mcp:SERVER/tool)."""
    from memos.tools.manage import attach as attach_tool

    tools = _tools(agent)
    try:
        seen_as = attach_tool(tools, name)
    finally:
        tools.close()
    output.note(f"attached {name}" + (f" (the model calls it {seen_as})" if seen_as != name else ""))


@app.command("detach")
def detach(name: NameArg, agent: AgentOpt = None) -> None:
    """Stop offering a tool to the agent (its file stays in the repo)."""
    from memos.errors import NotFound
    from memos.tools.manage import detach as detach_tool

    tools = _tools(agent)
    try:
        detached = detach_tool(tools, name)
    finally:
        tools.close()
    if not detached:
        raise NotFound(f"tool {name} is not attached", "see `memos tools list`")
    output.note(f"detached {name}")


@app.command("rm")
def rm(name: NameArg, agent: AgentOpt = None, yes: YesOpt = False) -> None:
    """Delete a tool and its test from the repo (a commit: git keeps the history)."""
    from memos.tools.manage import remove_tool

    tools = _tools(agent)
    if not tools.repo.tool_file(name).exists():
        from memos.errors import NotFound

        raise NotFound(f"no tool named '{name}' in the repo", "see `memos tools list`")
    confirm(f"Delete tool {name}?", yes)
    remove_tool(tools, name)
    tools.close()
    output.note(f"removed {name}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A Python file holding one tool function named like the file.")],
    name: Annotated[str | None, typer.Option(help="Tool name (default: the file's name).")] = None,
    attach: Annotated[bool, typer.Option(help="Attach it to the agent.")] = True,
    agent: AgentOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy a tool file into the repo, check that it loads, and commit it."""
    from memos.tools.manage import import_tool

    tools = _tools(agent)
    tool = import_tool(tools, path, name, attach=attach)
    tools.close()
    _added(tool, tool.name, f"imported {tool.name}", attach, json_out)


@app.command("log")
def log(agent: AgentOpt = None, limit: Annotated[int, typer.Option(min=1)] = 20, json_out: JsonOpt = False) -> None:
    """Show the tool repo's history."""
    from memos.tools.shared_code import tool_repo

    ws, resolved = agent_and_workspace(agent)
    entries = tool_repo(ws, resolved).log(limit)
    if json_out:
        output.emit_json(entries)
        return
    output.table(["commit", "date", "by", "summary"],
                 [(e["commit"][:10], e["date"][:19], "memos" if e["memos_made"] else e["author"], e["summary"])
                  for e in entries])


@app.command("sandbox-info")
def sandbox_info(json_out: JsonOpt = False) -> None:
    """Show which sandbox layers this machine enforces."""
    from memos.cli.common import workspace
    from memos.tools.custom import sandbox_limits
    from memos.tools.sandbox import Sandbox

    info = Sandbox(sandbox_limits(workspace())).info()
    if json_out:
        output.emit_json(info)
        raise typer.Exit(0 if info["ok"] else 1)
    layers = info["layers"]
    yes = lambda flag: "in force" if flag else "not available"  # noqa: E731
    output.table(["layer", "status"], [
        ("user namespace", yes(layers.get("user"))),
        ("network namespace (no network)", yes(layers.get("network"))),
        ("PID namespace (children die with the call)", yes(layers.get("pid"))),
        (f"Landlock filesystem (ABI {layers.get('landlock_abi', 0)})", yes(layers.get("filesystem"))),
        ("Landlock TCP deny", yes(layers.get("landlock_network"))),
        ("Landlock IPC scope", yes(layers.get("ipc_scope"))),
        ("resource limits", ", ".join(layers.get("rlimits", [])) or "not available"),
        ("pids cgroup", info["pids_cgroup"]),
        ("scrubbed environment, jail directory, wall time, output cap", "in force"),
    ])
    if not info["ok"]:
        output.warn(f"the sandbox failed to start: {info['error']}")
        raise typer.Exit(1)
