"""Importing a Letta agent file: checked first, then one store transaction and one tool commit.

Everything that can fail is found before anything is written: the file is read and checked
(read.py), the tools with source code are loaded in the sandbox (untrusted code: imported, never
called), names, blocks and rules are checked. Then one transaction writes the agents, their
blocks, messages and attached tools, and each agent's tool repo gets one commit; if anything in
there fails, the transaction rolls back and the repos are removed: a failed import leaves nothing.

What memos does not have yet (Letta tools without source, groups and sleep-time pairs, files
and sources, MCP servers, rules it cannot enforce) is reported, one line each, and kept in the
agent's metadata under ``letta_agent_file``, so an export gives it back (export.py).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memos.agentfile.configs import KEPT
from memos.agentfile.folders import FOLDER_KINDS, FolderPlan, link_agent, plan_folders, write_folders
from memos.agentfile.read import AgentFile, FileAgent, FileBlock, FileMessage, FileTool, litellm_model, read_agent_file
from memos.core.letta import AGENT_TYPE, embedding_config_for, llm_config_for
from memos.core.workspace import Workspace
from memos.errors import AlreadyExists, InvalidInput, ProviderError
from memos.store.base import Agent, NewAgent, NewBlock, NewMessage, NewTool
from memos.tools.multi_agent import MULTI_AGENT_TOOLS


@dataclass(frozen=True)
class ImportedAgent:
    agent: Agent
    blocks: int
    messages: int
    tools: list[str]  # custom tools now in its repo and attached


@dataclass(frozen=True)
class ImportReport:
    agents: list[ImportedAgent]
    notes: list[str]  # one line per thing memos left out or changed


@dataclass
class _Tool:
    """A tool with source, after the sandbox looked at it."""

    tool: FileTool
    schema: dict[str, Any] | None = None  # as loaded; None when it does not load
    problem: str | None = None
    schema_file: bool = False  # loaded only with the file's json_schema beside it


@dataclass
class _Plan:
    source: FileAgent
    name: str
    model: str
    context_window: int
    embedding_model: str
    own_blocks: list[NewBlock]
    max_tokens: int | None
    response_format: dict[str, Any] | None
    shared_keys: list[str]
    rules: list[dict[str, Any]]
    tools: list[_Tool]
    messages: list[NewMessage]
    metadata: dict[str, Any]
    tags: list[str]
    notes: list[str] = field(default_factory=list)
    mcp_tools: list[tuple[str, str, str]] = field(default_factory=list)  # (server, tool, name) configured here
    letta_tools: list[str] = field(default_factory=list)  # Letta's multi-agent tools it was given


def import_agent_file(ws: Workspace, data: bytes | str, *, source: str, name: str | None = None,
                      model: str | None = None, messages: bool = True, letta_names: bool = False,
                      copy_suffix: bool = False, allow_local_tools: bool = False,
                      embedding: str | None = None) -> ImportReport:
    """Import every agent of the file. ``letta_names``: names as Letta's API takes them (any text,
    duplicates allowed); ``copy_suffix``: Letta's "_copy" after each name not given.
    ``allow_local_tools``: attach the tools the file names that run outside the sandbox on this
    machine (an MCP server configured here, Letta's multi-agent tools, which reach this home's
    other agents); without it each is left out, in a note naming it. A file is someone else's
    word: it must not hand its agent the user's own tools unasked. ``embedding``: the model
    every imported agent embeds with, in place of the file's (refused if it cannot be reached)."""
    parsed = read_agent_file(data, source)
    if name is not None and len(parsed.agents) > 1:
        raise InvalidInput(f"{source} holds {len(parsed.agents)} agents; a name can only be given to one")
    tools = _load_tools(ws, parsed, source)
    notes = ["read the older single-agent format"] if parsed.legacy else []
    folders = plan_folders(ws, parsed.leftovers, notes)  # embedded now: nothing is written yet
    if embedding is not None:
        _check_embedding_model(ws, embedding)
    plans = [_plan(ws, parsed, agent, tools, name=name, model=model, messages=messages, letta_names=letta_names,
                   copy_suffix=copy_suffix, allow_local_tools=allow_local_tools, embedding=embedding)
             for agent in parsed.agents]
    _check_names(ws, plans, letta_names)
    imported = _write(ws, parsed, plans, source, letta_names, folders)
    return ImportReport(imported, notes + [note for plan in plans for note in plan.notes])


# -- tools ---------------------------------------------------------------------------------------
def _load_tools(ws: Workspace, parsed: AgentFile, source: str) -> dict[str, _Tool]:
    """The file's tools with source code, loaded in the sandbox (their schema or why not)."""
    from memos.tools.builtins import builtin_specs
    from memos.tools.library import SCHEMA_SUFFIX
    from memos.tools.repo import check_tool_name

    builtins = set(builtin_specs())
    candidates: dict[str, _Tool] = {}
    for tool in parsed.tools.values():
        if tool.name in builtins or tool.source_code is None:
            continue
        try:
            check_tool_name(tool.name)
        except InvalidInput as exc:
            raise InvalidInput(f"{source}: tool {tool.name!r} cannot be imported: {exc}",
                               "a tool's name must be a Python identifier") from None
        candidates[tool.name] = _Tool(tool, problem=_static_problem(tool))
    pending = [c for c in candidates.values() if c.problem is None]
    if pending:
        _describe(ws, pending, with_schema=False)
        retry = [c for c in pending if c.schema is None and c.tool.json_schema]
        for candidate in retry:
            candidate.problem = None
        _describe(ws, retry, with_schema=True, suffix=SCHEMA_SUFFIX)
    return candidates


def _static_problem(tool: FileTool) -> str | None:
    """What makes a tool unusable in memos, seen from its source alone."""
    assert tool.source_code is not None
    try:
        tree = ast.parse(tool.source_code)
    except SyntaxError as exc:
        return f"{tool.name}.py:{exc.lineno}: {exc.msg}"
    functions = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    function = functions.get(tool.name)
    if function is None:
        return f"{tool.name}.py: defines no function named {tool.name}"
    if any(arg.arg == "agent_state" for arg in function.args.args):
        return (f"{tool.name}.py:{function.lineno}: takes Letta's agent_state, which memos does not give tools "
                "(memory tools edit memory in memos)")
    return None


def _describe(ws: Workspace, tools: Sequence[_Tool], *, with_schema: bool, suffix: str = "") -> None:
    from memos.tools.custom import sandbox_limits
    from memos.tools.sandbox import Sandbox

    if not tools:
        return
    files = {f"{t.tool.name}.py": t.tool.source_code or "" for t in tools}
    if with_schema:
        files.update({f"{t.tool.name}{suffix}": json.dumps(t.tool.json_schema) for t in tools})
    sandbox = Sandbox(sandbox_limits(ws))
    try:
        result = sandbox.describe(files, [t.tool.name for t in tools])
    finally:
        sandbox.close()
    if not result.ok:
        for tool in tools:
            tool.problem = f"the sandbox could not load it: {result.message}"
        return
    loaded = {t["name"]: t for t in result.value["tools"]}
    problems = {p["file"]: p for p in result.value["problems"]}
    for tool in tools:
        found = loaded.get(tool.tool.name)
        if found is not None:
            tool.schema = {"name": found["name"], "description": found["description"],
                           "parameters": found["parameters"]}
            tool.schema_file = with_schema
            continue
        problem = problems.get(f"{tool.tool.name}.py")
        tool.problem = (f"{problem['file']}:{problem['line']}: {problem['error']}" if problem and problem.get("line")
                        else f"{tool.tool.name}.py: {problem['error'] if problem else 'it did not load'}")


# -- one agent's plan ------------------------------------------------------------------------------
def _plan(ws: Workspace, parsed: AgentFile, agent: FileAgent, loaded: dict[str, _Tool], *, name: str | None,
          model: str | None, messages: bool, letta_names: bool, copy_suffix: bool,
          allow_local_tools: bool = False, embedding: str | None = None) -> _Plan:
    from memos.core import agents as core_agents
    from memos.core.rules import normalise
    from memos.tools.builtins import builtin_specs

    chosen = name if name is not None else agent.name + ("_copy" if copy_suffix else "")
    try:
        core_agents.check_agent_name(chosen)
    except InvalidInput as exc:
        if name is not None:
            raise
        raise InvalidInput(f"the agent name {chosen!r} from the file is not valid", "give one with --name") from exc
    system = agent.system or ""
    core_agents.check_agent_texts(agent.description, system)
    notes: list[str] = []

    # Blocks: the agent's own, and those it shares with other agents of the file.
    users: dict[str, int] = {}
    for other in parsed.agents:
        for key in other.block_keys:
            users[key] = users.get(key, 0) + 1
    own = [_new_block(parsed.blocks[k]) for k in agent.block_keys if users[k] == 1]
    shared = [k for k in agent.block_keys if users[k] > 1]
    try:
        core_agents.check_blocks(own + [_new_block(parsed.blocks[k]) for k in shared])
    except InvalidInput as exc:
        raise InvalidInput(f"agent {agent.name}: {exc}") from None

    # Tools: built-ins are always there; tools with source were loaded; the rest are kept aside.
    builtins = set(builtin_specs())
    used = [parsed.tools[k] for k in agent.tool_keys]
    attached = [loaded[t.name] for t in used if t.name in loaded and loaded[t.name].schema is not None]
    missing = [t for t in used if t.name not in builtins and t.name not in loaded]
    local_mcp = {t.name: found for t in missing if (found := _local_mcp_tool(ws, t)) is not None}
    remote = [(*found, name) for name, found in local_mcp.items()]
    missing = [t for t in missing if t.name not in local_mcp]
    letta_given = [t.name for t in missing if t.name in MULTI_AGENT_TOOLS]
    missing = [t for t in missing if t.name not in MULTI_AGENT_TOOLS]
    if not allow_local_tools:
        for server_name, remote_name, _ in remote:
            notes.append(f"agent {chosen}: tool {remote_name} of this machine's MCP server {server_name} not attached "
                         "(it runs outside the sandbox; import with --allow-local-tools to attach it)")
        for tool_name in letta_given:
            notes.append(f"agent {chosen}: multi-agent tool {tool_name} not attached (it reaches this home's other "
                         "agents; import with --allow-local-tools to attach it)")
        remote, letta_given = [], []
    for tool in used:
        if tool.name in loaded and loaded[tool.name].problem:
            notes.append(f"agent {chosen}: tool {tool.name} is in the repo but not attached: "
                         f"{loaded[tool.name].problem}")
        elif tool.name in loaded and loaded[tool.name].tool.pip_requirements:
            wanted = ", ".join(str(r.get("name", r) if isinstance(r, dict) else r) for r in tool.pip_requirements)
            notes.append(f"agent {chosen}: tool {tool.name} wants pip packages ({wanted}); memos's sandbox has "
                         "only what is installed beside memos")
    if missing:
        notes.append(f"agent {chosen}: {len(missing)} Letta tool(s) memos does not have: "
                     f"{', '.join(f'{t.name} ({t.tool_type})' for t in missing)}; not attached, kept for export")

    # Rules memos can enforce, against the tools the agent ends up with.
    # An MCP tool keeps its name from the file (the export wrote the name the model called it by).
    known = builtins | {t.tool.name for t in attached} | set(local_mcp) | set(letta_given)
    rules, unenforced = [], []
    for rule in agent.tool_rules:
        try:
            rules.append(normalise(rule, known))
        except InvalidInput as exc:
            unenforced.append((rule, str(exc)))
    if unenforced:
        notes.append(f"agent {chosen}: {len(unenforced)} tool rule(s) not enforced: "
                     + "; ".join(why for _, why in unenforced) + " (kept for export)")

    # Settings.
    chosen_model = model or litellm_model(agent.llm_config) or str(ws.config.get("default_model"))
    window = agent.llm_config.get("context_window")
    context_window = window if isinstance(window, int) and not isinstance(window, bool) else int(
        ws.config.get("context_window"))
    core_agents.check_context_window(context_window)
    cap = agent.llm_config.get("max_tokens")
    max_tokens = core_agents.check_max_tokens(cap) if isinstance(cap, int) and not isinstance(cap, bool) and cap else None
    embedding = embedding or _embedding_model(ws, agent, chosen, notes)
    if agent.env_var_names:
        notes.append(f"agent {chosen}: tool environment variables not imported ({', '.join(agent.env_var_names)}): "
                     "their values are secrets; set them in memos's environment")
    if agent.skipped_messages:
        notes.append(f"agent {chosen}: {agent.skipped_messages} approval message(s) left out of the log")

    kept: dict[str, Any] = {}
    if agent.agent_type and agent.agent_type != AGENT_TYPE:
        kept["agent_type"] = agent.agent_type
    # Of Letta's configs, memos keeps what its own settings do not say (temperature, endpoints...).
    llm_rest = {k: v for k, v in agent.llm_config.items() if k not in llm_config_for(chosen_model, context_window)}
    embedding_rest = {k: v for k, v in agent.embedding_config.items() if k not in embedding_config_for(embedding)}
    if llm_rest:
        kept["llm_config"] = llm_rest
    if embedding_rest:
        kept["embedding_config"] = embedding_rest
    if missing:
        kept["tools"] = [t.raw for t in missing]
    detached = [t.name for t in used if t.name in loaded and loaded[t.name].schema is None]
    if detached:
        kept["detached_tools"] = detached
    if unenforced:
        kept["tool_rules"] = [rule for rule, _ in unenforced]
    # folders are real now, and structured output is the agent's own setting
    extra = {k: v for k, v in agent.extra.items() if k not in ("source_ids", "files_agents", "response_format")}
    chosen_format = agent.extra.get("response_format")
    response_format = core_agents.check_response_format(chosen_format) if isinstance(chosen_format, dict) else None
    if extra:
        kept["agent"] = extra
    leftovers = _leftovers(ws, parsed)
    kept.update(leftovers)
    for kind, items in leftovers.items():
        notes.append(f"agent {chosen}: {len(items)} {kind.replace('_', ' ')} in the file; memos has none yet "
                     "(kept for export)")
    metadata = dict(agent.metadata)
    if kept:
        metadata[KEPT] = kept
    return _Plan(agent, chosen, chosen_model, context_window, embedding, own, max_tokens, response_format, shared,
                 rules, attached,
                 _log(agent, system) if messages else [], metadata, core_agents.checked_tags(agent.tags), notes,
                 remote, letta_given)


def _local_mcp_tool(ws: Workspace, tool: FileTool) -> tuple[str, str] | None:
    """(server, tool) when the file's MCP tool is one of an MCP server configured here (same name),
    which lists it: then the imported agent gets it attached."""
    from memos.mcp_tools.tools import cached

    if tool.tool_type != "external_mcp":
        return None
    mcp = (tool.raw.get("metadata_") or {}).get("mcp") if isinstance(tool.raw.get("metadata_"), dict) else None
    server = mcp.get("server_name") if isinstance(mcp, dict) else None
    name = (mcp.get("tool_name") if isinstance(mcp, dict) else None) or tool.name
    if not isinstance(server, str) or not server or not isinstance(name, str):
        return None
    listed = cached(ws, server)
    if listed is None or not any(t.name == name for t in listed):
        return None
    return server, name


def _leftovers(ws: Workspace, parsed: AgentFile) -> dict[str, list[Any]]:
    """The file's parts memos has no place for; MCP servers configured here by the same name are not."""
    from memos.mcp_tools.servers import list_servers

    local = {s.name for s in list_servers(ws.config)}
    out = {kind: items for kind, items in parsed.leftovers.items() if kind not in FOLDER_KINDS}  # imported as folders
    servers = [s for s in out.get("mcp_servers", []) if not (isinstance(s, dict) and s.get("server_name") in local)]
    if servers:
        out["mcp_servers"] = servers
    else:
        out.pop("mcp_servers", None)
    return out


def _new_block(block: FileBlock) -> NewBlock:
    return NewBlock(block.label, block.value, block.limit, block.description, block.read_only)


def _unreachable(ws: Workspace, model: str) -> ProviderError | None:
    """Why this machine cannot embed with ``model`` (its provider has no key or base URL set),
    or None when it can (the bundled model always can)."""
    from memos.core.llm import resolve
    from memos.store.remote_embedders import LOCAL_ALIASES

    if model in LOCAL_ALIASES:
        return None
    try:
        resolve(ws.config, model)
    except ProviderError as exc:
        return exc
    return None


def _check_embedding_model(ws: Workspace, model: str) -> None:
    """An embedding model asked for by name must be one this machine can reach."""
    problem = _unreachable(ws, model)
    if problem is not None:
        raise InvalidInput(f"cannot embed with {model}: {problem.message}",
                           problem.hint or "name a model this machine can reach, or leave the embedding out")


def _embedding_model(ws: Workspace, agent: FileAgent, name: str, notes: list[str]) -> str:
    """The file's embedding model when this machine can reach it (the bundled model, or a
    provider with its key or base URL set), else memos's default, said in a note: an agent
    whose model cannot embed could not store or search a passage."""
    from memos.core.letta import embedding_handle

    wanted = embedding_handle(agent.embedding_config)
    default = str(ws.config.get("embedding_model"))
    if wanted is None:
        return default
    problem = _unreachable(ws, wanted)
    if problem is not None:
        notes.append(f"agent {name}: embeds with {default}, not {wanted} ({problem.message})")
        return default
    return wanted


def _log(agent: FileAgent, system: str) -> list[NewMessage]:
    """The agent's messages as memos keeps them; Letta's compiled system prompts are left out
    (memos compiles its own from the system prompt and the blocks, every step)."""
    head = system.strip()[:200]
    kept: list[FileMessage] = []
    for i, message in enumerate(agent.messages):
        if message.role == "system" and (i == 0 or (head and message.content.strip().startswith(head))):
            continue
        kept.append(message)
    return [NewMessage(m.role, m.content, m.name, m.tool_calls, m.tool_call_id,  # type: ignore[arg-type]
                       in_context=m.in_context, created_at=m.created_at) for m in kept]


def _check_names(ws: Workspace, plans: list[_Plan], letta_names: bool) -> None:
    if letta_names:
        return
    taken = {a.name for a in ws.store.list_agents()}
    names = [p.name for p in plans]
    for name in names:
        if name in taken:
            raise AlreadyExists(f"an agent named {name!r} exists", "import under another name with --name")
        if names.count(name) > 1:
            raise InvalidInput(f"the file holds two agents named {name!r}", "memos names each agent once")


# -- writing ---------------------------------------------------------------------------------------
def _write(ws: Workspace, parsed: AgentFile, plans: list[_Plan], source: str,
           letta_names: bool, folders: dict[str, FolderPlan]) -> list[ImportedAgent]:
    from memos.core.agents import own_dir
    from memos.core.prompts import template
    from memos.mcp_tools.tools import attach as attach_mcp
    from memos.tools.library import SCHEMA_SUFFIX
    from memos.tools.multi_agent import attach as attach_letta_tool
    from memos.tools.repo import ToolRepo
    from memos.tools.shared_code import publish

    created: list[Path] = []
    imported: list[ImportedAgent] = []
    try:
        with ws.store.transaction():
            shared_ids = {key: ws.store.create_block(_new_block(parsed.blocks[key]), actor="user",
                                                     reason=f"imported from {source}").id
                          for key in dict.fromkeys(k for p in plans for k in p.shared_keys)}
            placed = write_folders(ws.store, folders)
            files_by_key = {f["id"]: f for f in parsed.leftovers.get("files", []) if isinstance(f, dict)}
            for plan in plans:
                agent = ws.store.create_agent(NewAgent(
                    name=plan.name, description=plan.source.description,
                    system=plan.source.system or template("system_default"), model=plan.model,
                    embedding_model=plan.embedding_model, context_window=plan.context_window,
                    tool_rules=plan.rules, metadata=plan.metadata, tags=plan.tags, max_tokens=plan.max_tokens,
                    response_format=plan.response_format),
                    plan.own_blocks, unique_name=not letta_names)
                for key in plan.shared_keys:
                    ws.store.attach_block(agent.id, shared_ids[key])
                link_agent(ws.store, agent, plan.source.extra, placed, files_by_key)
                if plan.messages:
                    ws.store.append_messages(agent.id, plan.messages)
                home = own_dir(ws, agent)
                created.append(home)
                repo = ToolRepo.ensure(home / "tools", agent.name)
                in_repo = [*plan.tools, *_broken(plan, parsed)]
                for tool in in_repo:
                    repo.tool_file(tool.tool.name).write_text(tool.tool.source_code or "")
                    if tool.schema_file:
                        (repo.path / f"{tool.tool.name}{SCHEMA_SUFFIX}").write_text(json.dumps(tool.tool.json_schema))
                commit = repo.commit_all(f"Import {_tools_phrase(in_repo)} from {Path(source).name}") \
                    if in_repo else None
                publish(ws, agent)  # in the import's transaction: every replica gets the tools, or none
                for tool in plan.tools:
                    assert tool.schema is not None
                    gated = bool(tool.tool.raw.get("default_requires_approval")) or None  # never dropped
                    ws.store.attach_tool(agent.id, NewTool(tool.tool.name, tool.schema["description"], tool.schema,
                                                           tool.tool.source_code, commit, requires_approval=gated))
                for server_name, remote_name, as_name in plan.mcp_tools:
                    attach_mcp(ws, agent, server_name, remote_name, as_name)
                for name in plan.letta_tools:
                    attach_letta_tool(ws.store, agent, MULTI_AGENT_TOOLS[name])
                imported.append(ImportedAgent(ws.store.get_agent(agent.id), len(plan.own_blocks) + len(plan.shared_keys),
                                              len(plan.messages), [t.tool.name for t in plan.tools]))
    except BaseException:
        for path in created:
            ws.home.remove_agent_dir(path)
        raise
    return imported


def _broken(plan: _Plan, parsed: AgentFile) -> list[_Tool]:
    """Tools with source that go into the repo detached: those that did not load (to be fixed
    there), and in a one-agent file those the agent does not use (a detached tool, exported)."""
    from memos.tools.builtins import builtin_specs

    skip = set(builtin_specs()) | {t.tool.name for t in plan.tools}
    keys = list(plan.source.tool_keys)
    if len(parsed.agents) == 1:
        keys += [key for key in parsed.tools if key not in keys]
    return [_Tool(parsed.tools[key]) for key in keys if parsed.tools[key].source_code and parsed.tools[key].name not in skip]


def _tools_phrase(tools: Sequence[_Tool]) -> str:
    names = [t.tool.name for t in tools]
    return f"tool {names[0]}" if len(names) == 1 else f"tools {', '.join(names)}"
