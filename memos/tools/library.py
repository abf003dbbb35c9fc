"""The shared tool library behind Letta's /v1/tools: tools not yet in any agent's repo.

Letta keeps tools globally and attaches them to agents. memos keeps each agent's
tools in its own git repo, so a library tool is its source plus the schema the
sandbox derived from it; attaching one copies the file into the agent's repo
(a memos-made commit) and attaches it there like `memos tools import`.

New code for a library tool reaches the agents whose copy is still the library's
previous code (as Letta's agents share one tool), each as a commit in its repo; an
agent whose copy changed since, by hand or by evolution, keeps its own.
"""

from __future__ import annotations

import ast
import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from memos.core.workspace import Workspace
from memos.errors import Contradictory, InvalidInput, NotFound
from memos.store.base import Agent, NewTool, ToolRecord
from memos.tools.custom import sandbox_limits
from memos.tools.repo import check_tool_name
from memos.tools.sandbox import Sandbox

SCHEMA_SUFFIX = ".schema.json"  # beside a tool: its schema as given (the sandbox's describe reads it)
TOOL_RESULT_CEILING = 1_000_000  # a return_char_limit above this would not fit a context window anyway


def function_name(source: str) -> str:
    """The tool's function: the last public top-level function, as Letta picks it."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise InvalidInput(f"the tool source does not parse: line {exc.lineno}: {exc.msg}") from None
    names = [node.name for node in tree.body
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")]
    if not names:
        raise InvalidInput("the tool source defines no public function", "define one function with type hints")
    return check_tool_name(names[-1])


def save(ws: Workspace, source: str, description: str | None = None,
         json_schema: dict[str, Any] | None = None, *, tags: list[str] | None = None,
         return_char_limit: int | None = None, requires_approval: bool | None = None) -> ToolRecord:
    """Describe the source in the sandbox (it is untrusted code) and keep it in the library.
    ``requires_approval``: every agent given the tool asks a person before each call."""
    tool = described(ws, source, description, json_schema)
    return ws.store.save_library_tool(replace(tool, tags=_tags(tags), return_char_limit=_limit(return_char_limit),
                                              requires_approval=requires_approval))


def _tags(tags: list[str] | None) -> list[str] | None:
    if tags is not None and not all(isinstance(t, str) and t.strip() for t in tags):
        raise InvalidInput("a tool's tags must be non-empty strings")
    return None if tags is None else list(dict.fromkeys(tags))


def _limit(limit: int | None) -> int | None:
    if limit is not None and not 1 <= limit <= TOOL_RESULT_CEILING:
        raise InvalidInput(f"return_char_limit must be between 1 and {TOOL_RESULT_CEILING:,}")
    return limit


def renamed_function(source: str, new_name: str) -> str:
    """The source with its tool function (function_name) renamed to ``new_name`` where it is
    defined; calls of it inside the source are left alone (a tool does not call itself)."""
    old_name = function_name(source)
    check_tool_name(new_name)
    node = next(n for n in reversed(ast.parse(source).body)
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == old_name)
    lines = source.splitlines(keepends=True)
    line = lines[node.lineno - 1]
    start = line.index("def", node.col_offset) + len("def")
    at = line.index(old_name, start)
    lines[node.lineno - 1] = line[:at] + new_name + line[at + len(old_name):]
    return "".join(lines)


def given_schema(name: str, json_schema: dict[str, Any] | None, args_json_schema: dict[str, Any] | None,
                 description: str | None = None) -> dict[str, Any] | None:
    """A client's schema for a tool (Letta's json_schema, or args_json_schema for the arguments
    alone), in the shape a tool's schema has; None when the client gave none."""
    if json_schema is None and args_json_schema is None:
        return None
    parameters = args_json_schema if args_json_schema is not None else (json_schema or {}).get("parameters")
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise InvalidInput(f"the JSON schema given for {name} has no 'parameters' object",
                           "give json_schema with parameters: {type: object, properties: ...}")
    text = description or (json_schema or {}).get("description")
    return {"name": name, **({"description": text} if text else {}),
            "parameters": {"type": "object", "properties": {}, **parameters}}


def described(ws: Workspace, source: str, description: str | None = None,
              json_schema: dict[str, Any] | None = None) -> NewTool:
    """A library tool from its source: its schema as the sandbox derives it, or as the client
    gave it (for a source whose type hints cannot say it: Letta takes such schemas too)."""
    name = function_name(source)
    files = {f"{name}.py": source}
    if json_schema is not None:
        files[f"{name}{SCHEMA_SUFFIX}"] = json.dumps(json_schema)
    sandbox = Sandbox(sandbox_limits(ws))
    try:
        result = sandbox.describe(files, [name])
    finally:
        sandbox.close()
    if not result.ok:
        raise InvalidInput(f"the tool {name} could not be described: {result.message}")
    problems = result.value["problems"]
    if problems:
        first = problems[0]
        raise InvalidInput(f"tool {name} does not load: line {first['line']}: {first['error']}",
                           "it needs type hints on every argument and a docstring")
    tool = result.value["tools"][0]
    schema = {"name": name, "description": description or tool["description"], "parameters": tool["parameters"]}
    return NewTool(name, schema["description"], schema, source, source_type="python")


def update(ws: Workspace, record: ToolRecord, *, source_code: str | None = None,
           description: str | None = None, tags: list[str] | None = None,
           return_char_limit: int | None = None, requires_approval: bool | None = None,
           json_schema: dict[str, Any] | None = None) -> ToolRecord:
    """Change a library tool's source (described again), its schema (a client's json_schema,
    kept as given; one naming another function renames the function in the source, as Letta
    renames a tool by its schema) or description. An agent's own tools live in its git repo,
    where they are changed (and reviewed, and evolve)."""
    if record.source_type != "python":
        raise InvalidInput(f"tool {record.name} belongs to an agent's tool repo",
                           "change its file there: memos tools edit / memos tools commit")
    if json_schema is not None:
        source = source_code if source_code is not None else record.source_code or ""
        defined = function_name(source)
        named = str(json_schema.get("name") or defined)
        if source_code is not None and named != defined:
            raise Contradictory(f"json_schema names the tool {named} but source_code defines {defined}",
                                "give the same name in both, or send one of them")
        source_code = renamed_function(source, named) if named != defined else source
        tool = described(ws, source_code, description, given_schema(named, json_schema, None, description))
    elif source_code is not None:
        tool = described(ws, source_code, description)
    else:
        text = description if description is not None else record.description
        tool = NewTool(record.name, text, {**record.json_schema, "description": text}, record.source_code,
                       source_type="python")
    updated = ws.store.update_library_tool(record.id, replace(
        tool, tags=_tags(tags), return_char_limit=_limit(return_char_limit), requires_approval=requires_approval))
    if source_code is not None:
        reach_agents(ws, record, updated)
    if requires_approval:  # gating a tool reaches the agents that have it now, not only later ones
        for agent, tools in _agents_with_tools(ws):
            if any(t.name == record.name for t in tools):
                set_requires_approval(ws, agent, record.name, True)
    return updated


def _agents_with_tools(ws: Workspace) -> list[tuple[Agent, list[ToolRecord]]]:
    """Every agent with its attached tools, in one query rather than one per agent."""
    agents = ws.store.list_agents()
    tools = ws.store.tools_by_agent([agent.id for agent in agents])
    return [(agent, tools[agent.id]) for agent in agents]


def reach_agents(ws: Workspace, before: ToolRecord, after: ToolRecord) -> None:
    """Give a library tool's new code to every agent whose copy is still ``before``'s code: a commit
    in its tool repo ("Update tool NAME from the library"), undone or reviewed like any other. An
    agent whose copy differs (edited by hand or by an evolution), keeps a schema given beside it,
    or would not load the new code keeps its own; a new function name reaches nobody (the copies
    keep the name agents and their rules call them by)."""
    from memos.tools.manage import open_tools
    from memos.tools.shared_code import changing

    if not before.source_code or not after.source_code or after.source_code == before.source_code \
            or after.name != before.name:
        return
    for agent, tools in _agents_with_tools(ws):
        if not any(t.name == before.name for t in tools):
            continue
        with changing(ws, agent) as repo:
            path = repo.tool_file(before.name)
            if not path.exists() or path.read_text() != before.source_code \
                    or (repo.path / f"{before.name}{SCHEMA_SUFFIX}").exists():
                continue  # the agent's own
            path.write_text(after.source_code)
            agent_tools = open_tools(ws, agent)
            try:
                if agent_tools.get(before.name) is None:  # the new code does not load here
                    path.write_text(before.source_code)
                else:
                    repo.commit_all(f"Update tool {before.name} from the library")
                agent_tools.load()  # the tool's record and schema follow the code it runs
            finally:
                agent_tools.close()


def shared_ids(library: list[ToolRecord], copies: list[ToolRecord]) -> dict[str, str]:
    """{copy's id: library tool's id} for the agents' copies that run their library tool's code:
    those are listed under the library tool's id (Letta's agents share one tool, and a client
    finds on the agent the id it attached); a copy whose code changed is the agent's own."""
    by_code = {(t.name, t.source_code or ""): t.id for t in library if t.source_type == "python" and t.source_code}
    return {t.id: by_code[(t.name, t.source_code or "")] for t in copies
            if t.source_type == "repo" and (t.name, t.source_code or "") in by_code}


def delete(ws: Workspace, record: ToolRecord) -> list[str]:
    """Delete a tool: an agent's copy is detached from its agent; a library tool also leaves the
    agents whose copy still runs its code (they were listed under its id), as a Letta tool leaves
    every agent. Their repos keep the files. Returns the ids of the agents it left."""
    left: list[str] = []
    if record.source_type == "python":
        for agent, copies in _agents_with_tools(ws):
            if shared_ids([record], copies):
                ws.store.detach_tool(agent.id, record.name)
                left.append(agent.id)
    return sorted({*left, *ws.store.delete_tool(record.id)})


def find(ws: Workspace, tool_id: str) -> ToolRecord:
    return ws.store.get_tool(tool_id)


def attach(ws: Workspace, agent: Agent, record: ToolRecord) -> None:
    """Give the agent this tool: its code goes into the agent's repo, then it is attached."""
    from memos.tools.shared_code import changing

    if record.name in {t.name for t in ws.store.list_agent_tools(agent.id)}:
        return
    if not record.source_code:
        raise NotFound(f"tool {record.name} has no source to copy", "create it again with its source code")
    with changing(ws, agent):
        _copy_into_repo(ws, agent, record, record.source_code)


def _copy_into_repo(ws: Workspace, agent: Agent, record: ToolRecord, source_code: str) -> None:
    from memos.tools.manage import ToolBroken, import_tool, open_tools
    from memos.tools.shared_code import changing

    tools = open_tools(ws, agent)
    try:
        existing = tools.repo.tool_file(record.name)
        if existing.exists():
            if existing.read_text() != source_code:
                raise InvalidInput(f"agent '{agent.name}' already has a different tool named {record.name}",
                                   "rename one of them")
            tools.load()
            tools.attach(record.name)
            _inherit_settings(ws, agent, record)
            return
        with tempfile.TemporaryDirectory(prefix="memos-tool-") as tmp:
            source = Path(tmp) / f"{record.name}.py"
            source.write_text(source_code)
            try:
                loaded = import_tool(tools, source, record.name)
            except ToolBroken:
                # Code whose type hints cannot say its schema (it was created with the client's
                # json_schema): the schema goes with it into the repo, and the import is tried again.
                (tools.repo.path / f"{record.name}{SCHEMA_SUFFIX}").write_text(json.dumps(record.json_schema))
                loaded = import_tool(tools, source, record.name)
        if loaded.schema() != record.json_schema and not (tools.repo.path / f"{record.name}{SCHEMA_SUFFIX}").exists():
            # A schema the client gave (json_schema) that the code's hints and docstring do not
            # say: it goes beside the code, so the agent's model reads the schema that was set.
            with changing(ws, agent):
                (tools.repo.path / f"{record.name}{SCHEMA_SUFFIX}").write_text(json.dumps(record.json_schema))
                tools.repo.commit_all(f"Keep the schema given for tool {record.name}")
            tools.load()
        _inherit_settings(ws, agent, record)
    finally:
        tools.close()


def _inherit_settings(ws: Workspace, agent: Agent, record: ToolRecord) -> None:
    """The agent's copy of a library tool keeps the library's tags, return_char_limit and approval."""
    if not record.tags and record.return_char_limit is None and not record.requires_approval:
        return
    mine = next(t for t in ws.store.list_agent_tools(agent.id) if t.name == record.name)
    ws.store.attach_tool(agent.id, NewTool(mine.name, mine.description, mine.json_schema, mine.source_code,
                                           mine.repo_commit, mine.source_type, list(record.tags),
                                           record.return_char_limit, record.requires_approval or None))


def agent_tool(ws: Workspace, agent: Agent, name: str) -> ToolRecord | None:
    """The agent's own row of tool ``name``; None for a built-in; NotFound for a tool it lacks."""
    from memos.tools.builtins import builtin_specs

    mine = next((t for t in ws.store.list_agent_tools(agent.id) if t.name == name), None)
    if mine is None and name not in builtin_specs():
        raise NotFound(f"agent '{agent.name}' has no tool named '{name}'", "attach it first: memos tools attach")
    return mine


def requires_approval(ws: Workspace, agent: Agent, name: str) -> bool:
    """Whether the agent asks a person before each call of ``name``: its own tool row says so,
    or an approval rule of the agent does (built-ins)."""
    mine = next((t for t in ws.store.list_agent_tools(agent.id) if t.name == name), None)
    return bool(mine and mine.requires_approval) or any(
        r.get("type") == "requires_approval" and r.get("tool_name") == name for r in agent.tool_rules)


def library_tool(ws: Workspace, name: str) -> ToolRecord:
    """The shared library's tool of that name (Letta's global tools)."""
    found = next((t for t in ws.store.list_tools() if t.name == name and t.source_type == "python"), None)
    if found is None:
        raise NotFound(f"the tool library has no tool named '{name}'", "see `memos tools list`, or POST /v1/tools/")
    return found


def set_requires_approval(ws: Workspace, agent: Agent, name: str, required: bool) -> None:
    """Whether each of the agent's calls of ``name`` waits for a person (Letta's update_approval):
    its own tool row says so for a tool it has a row of, an approval rule for a built-in."""
    mine = agent_tool(ws, agent, name)
    if mine is not None:
        ws.store.attach_tool(agent.id, NewTool(mine.name, mine.description, mine.json_schema, mine.source_code,
                                               mine.repo_commit, mine.source_type, requires_approval=required))
    rules = [r for r in agent.tool_rules if not (r.get("type") == "requires_approval" and r.get("tool_name") == name)]
    if required and mine is None:
        rules.append({"type": "requires_approval", "tool_name": name})
    if rules != agent.tool_rules:  # an approval rule for a tool the agent has: valid as it stands
        ws.store.update_agent(agent.id, tool_rules=rules)
