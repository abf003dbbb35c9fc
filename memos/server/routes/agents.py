"""Agents: create, list, retrieve, modify, delete (Letta's AgentState shape)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, File, Form, Header, Query, Response, UploadFile

from memos.core import agents as core_agents
from memos.core import identities as core_identities
from memos.core import letta
from memos.core.limits import check_value
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NotFound
from memos.server import shapes
from memos.server.deps import WS, AgentDep, TurnService, agent_state, agent_states, pending_approval
from memos.server.paging import paged
from memos.server.schemas import LETTA_BLOCK_LIMIT, AgentCreate, AgentUpdate, CompactRequest, GenerateRequest
from memos.store.base import Agent, NewBlock

router = APIRouter(prefix="/v1/agents", tags=["agents"])


def _blocks(body: AgentCreate) -> list[NewBlock] | None:
    if body.memory_blocks is None:
        return None if not body.block_ids else []
    return [NewBlock(b.label, b.value, b.limit or LETTA_BLOCK_LIMIT, b.description or "", b.read_only)
            for b in body.memory_blocks]


@router.post("/", status_code=201)
def create_agent(ws: WS, body: AgentCreate, response: Response) -> dict[str, Any]:
    from memos.mcp_tools import tools as mcp_tools
    from memos.tools import multi_agent

    remote = {tool_id: found for tool_id in body.tool_ids or [] if (found := mcp_tools.find_by_id(ws, tool_id))}
    # Letta's multi-agent tools, given by id or by name.
    letta_tools = {spec.name: spec for tool_id in body.tool_ids or [] if (spec := multi_agent.by_id(tool_id))}
    letta_tools.update({name: multi_agent.MULTI_AGENT_TOOLS[name] for name in body.tools or []
                        if name in multi_agent.MULTI_AGENT_TOOLS})
    by_id = [ws.store.get_tool(tool_id).name for tool_id in body.tool_ids or []
             if not _is_builtin_id(tool_id) and tool_id not in remote and multi_agent.by_id(tool_id) is None]
    window = body.context_window_limit or (body.llm_config.context_window if body.llm_config else None)
    model = body.model or (body.llm_config.model if body.llm_config else None)
    core_identities.check_identities(ws.store, body.identity_ids or [])
    agent = core_agents.create_agent(
        ws, body.name or f"agent-{uuid.uuid4().hex[:8]}", description=body.description or "", model=model,
        embedding_model=body.embedding or letta.embedding_handle(body.embedding_config), context_window=window, system=body.system, blocks=_blocks(body),
        tool_rules=body.tool_rules, metadata=body.metadata, shared_block_ids=body.block_ids or [],
        library_tools=[*(t for t in body.tools or [] if t not in letta_tools), *by_id], tags=body.tags or [],
        letta_name=True, max_tokens=_max_tokens(body) or None, response_format=_response_format(body))
    try:
        for server, tool in remote.values():  # an MCP server's tools (Letta's tool ids from /v1/mcp-servers)
            mcp_tools.attach(ws, agent, server, tool)
        for spec in letta_tools.values():
            multi_agent.attach(ws.store, agent, spec)
        if body.enable_sleeptime:
            core_agents.enable_sleeptime(ws, agent)
        if body.identity_ids:
            core_identities.set_identities(ws.store, "agent", agent.id, body.identity_ids)
    except BaseException:
        core_agents.delete_agent(ws, agent)
        raise
    response.headers["Location"] = f"/v1/agents/{agent.id}"
    return agent_state(ws, agent)


def _is_builtin_id(tool_id: str) -> bool:
    from memos.tools.builtins import builtin_specs

    return tool_id in {shapes.builtin_tool_id(name) for name in builtin_specs()}


@router.get("/")
def list_agents(ws: WS, name: str | None = None, query_text: str | None = None,
                limit: int = Query(50, ge=1, le=1000), after: str | None = None, before: str | None = None,
                order: Literal["asc", "desc"] = "desc", ascending: bool | None = None,
                tags: Annotated[list[str] | None, Query()] = None, match_all_tags: bool = False,
                include: Annotated[list[str] | None, Query()] = None, identity_id: str | None = None,
                identifier_keys: Annotated[list[str] | None, Query()] = None) -> list[dict[str, Any]]:
    """Agents by creation time (newest first unless ``order=asc``); ``after``/``before`` are agent ids;
    ``tags`` keeps the agents with any of them (every one with ``match_all_tags``); ``identity_id``
    and ``identifier_keys`` those of that identity, or of one of those keys."""
    agents = _matching(ws, name, query_text, tags, match_all_tags, identity_id, identifier_keys)
    if ascending is not None:
        order = "asc" if ascending else "desc"
    page = paged(agents, after=after, before=before, limit=limit, order=order)
    return agent_states(ws, page, with_blocks=INCLUDE_BLOCKS in (include or []))


def _matching(ws: Workspace, name: str | None, query_text: str | None, tags: list[str] | None,
              match_all_tags: bool, identity_id: str | None = None,
              identifier_keys: list[str] | None = None) -> list[Agent]:
    """The agents a list or count asks for, oldest first."""
    agents = sorted(core_agents.with_tags(ws.store.list_agents(), tags or [], match_all_tags),
                    key=lambda a: (a.created_at, a.id))
    agents = core_identities.belonging(ws.store, agents, "agent", identity_id, identifier_keys)
    if name:
        agents = [a for a in agents if a.name == name]
    if query_text:
        agents = [a for a in agents if query_text.lower() in a.name.lower()]
    return agents


@router.get("/count")
def count_agents(ws: WS, name: str | None = None, query_text: str | None = None,
                 tags: Annotated[list[str] | None, Query()] = None, match_all_tags: bool = False,
                 identity_id: str | None = None, identifier_keys: Annotated[list[str] | None, Query()] = None) -> int:
    return len(_matching(ws, name, query_text, tags, match_all_tags, identity_id, identifier_keys))


INCLUDE_BLOCKS = "agent.blocks"


@router.post("/import")
def import_agent(ws: WS, file: Annotated[UploadFile, File()],
                 name: Annotated[str | None, Form()] = None, override_name: Annotated[str | None, Form()] = None,
                 model: Annotated[str | None, Form()] = None,
                 override_model_handle: Annotated[str | None, Form()] = None,
                 strip_messages: Annotated[bool, Form()] = False,
                 append_copy_suffix: Annotated[bool, Form()] = True,
                 embedding: Annotated[str | None, Form()] = None,
                 override_embedding_handle: Annotated[str | None, Form()] = None,
                 secrets: Annotated[str | None, Form()] = None, env_vars_json: Annotated[str | None, Form()] = None,
                 allow_local_tools: Annotated[bool, Form()] = False,
                 x_override_embedding_model: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Letta's agent-file import (multipart ``file``): every agent of the file, as one import.
    Names as Letta gives them ("_copy" appended unless a name is given or append_copy_suffix is
    false); what memos leaves out is in the log and in each agent's metadata."""
    import logging

    from memos.agentfile.importer import import_agent_file
    from memos.agentfile.read import MAX_FILE_BYTES

    if secrets or env_vars_json:
        raise InvalidInput("memos does not store tool secrets", "set them in the environment memos serve runs in")
    check_value({"name": name, "override_name": override_name, "model": model,
                 "override_model_handle": override_model_handle}, "form")  # (JSON bodies are checked by the guard)
    data = file.file.read(MAX_FILE_BYTES + 1)
    report = import_agent_file(ws, data, source=file.filename or "the uploaded file",
                               name=name or override_name, model=model or override_model_handle,
                               messages=not strip_messages, letta_names=True, copy_suffix=append_copy_suffix,
                               allow_local_tools=allow_local_tools,
                               embedding=x_override_embedding_model or embedding or override_embedding_handle)
    for note in report.notes:
        logging.getLogger("memos.server").info("import of %s: %s", file.filename, note)
    return {"agent_ids": [imported.agent.id for imported in report.agents]}


@router.get("/{agent_id}/export")
def export_agent(ws: WS, agent: AgentDep, scrub_messages: bool = False, use_legacy_format: bool = False,
                 conversation_id: str | None = None, max_steps: int | None = None) -> dict[str, Any]:
    """The agent as a Letta agent file (AgentFileSchema); ``scrub_messages`` leaves the history out."""
    from memos.agentfile.export import export_agent as export_document

    if use_legacy_format:
        raise InvalidInput("Legacy format is not supported", "export in the current format (the default)")
    if conversation_id is not None:
        raise NotFound(f"conversation {conversation_id} not found", "memos agents have one conversation")
    return export_document(ws, agent, messages=not scrub_messages)


@router.post("/{agent_id}/export")
def export_agent_with_skills(ws: WS, agent: AgentDep, body: Annotated[dict[str, Any] | None, Body()] = None
                             ) -> dict[str, Any]:
    """Letta's POST export: as the GET, with the client's ``skills`` (name and files) carried in the file."""
    from memos.agentfile.export import export_agent as export_document

    body = body or {}
    if body.get("conversation_id") is not None:
        raise NotFound(f"conversation {body['conversation_id']} not found", "memos agents have one conversation")
    skills = body.get("skills") or []
    if not isinstance(skills, list) or not all(isinstance(s, dict) and isinstance(s.get("name"), str) for s in skills):
        raise InvalidInput("skills must be a list of objects with a name", "give [{name, files: {SKILL.md: ...}}]")
    document = export_document(ws, agent, messages=not body.get("scrub_messages"))
    document["skills"] = [*document["skills"], *skills]
    return document


@router.get("/{agent_id}")
def get_agent(ws: WS, agent: AgentDep, include: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """The agent; its memory blocks with ``include=agent.blocks`` (as Letta: they cost a read), the
    approval it waits on with ``include=agent.pending_approval``."""
    state = agent_states(ws, [agent], with_blocks=INCLUDE_BLOCKS in (include or []))[0]
    if "agent.pending_approval" in (include or []):
        state["pending_approval"] = pending_approval(ws, agent)
    return state


def _response_format(body: AgentCreate | AgentUpdate) -> dict[str, Any] | None:
    """Structured output, at the top level or in model_settings as letta-client 1.x sends it."""
    if body.response_format is not None:
        return body.response_format
    settings = body.model_settings or {}
    chosen = settings.get("response_format")
    return chosen if isinstance(chosen, dict) else None


def _max_tokens(body: AgentCreate | AgentUpdate) -> int | None:
    """Letta takes the cap at the top level or in llm_config (letta-client's create(max_tokens=...))."""
    if body.max_tokens is not None:
        return body.max_tokens
    return body.llm_config.max_tokens if body.llm_config else None


@router.patch("/{agent_id}")
def update_agent(ws: WS, agent: AgentDep, body: AgentUpdate) -> dict[str, Any]:
    window = body.context_window_limit or (body.llm_config.context_window if body.llm_config else None)
    model = body.model or (body.llm_config.model if body.llm_config else None)
    updated = core_agents.update_agent(ws, agent, description=body.description, model=model, context_window=window,
                                       tool_rules=body.tool_rules, system=body.system, metadata=body.metadata,
                                       tags=body.tags, any_tool_rules=True, max_tokens=_max_tokens(body),
                                       response_format=_response_format(body))
    if body.identity_ids is not None:
        core_identities.set_identities(ws.store, "agent", updated.id, body.identity_ids)
    if body.name and body.name != updated.name:
        updated = core_agents.rename_agent(ws, updated, body.name, letta_name=True)
    if body.enable_sleeptime is True:
        core_agents.enable_sleeptime(ws, updated)
    elif body.enable_sleeptime is False:
        core_agents.disable_sleeptime(ws, updated)
    return agent_state(ws, updated)


@router.patch("/{agent_id}/reset-messages")
def reset_messages(ws: WS, agent: AgentDep, add_default_initial_messages: bool = False) -> dict[str, Any]:
    """Start the conversation afresh: every message leaves the context window (they stay stored and
    conversation_search still finds them); memory blocks and archival memory are untouched."""
    from memos.core.turns import reset_context
    from memos.server.turns import TURN_WAIT

    reset_context(ws.store, agent, TURN_WAIT)
    return agent_state(ws, agent)


@router.post("/{agent_id}/generate")
def generate(ws: WS, agent: AgentDep, body: GenerateRequest) -> dict[str, Any]:
    """One completion with the agent's model (or ``override_model``): no memory, no tools, nothing stored."""
    from memos.core.generate import generate as generate_once

    done = generate_once(ws, agent, body.prompt, system_prompt=body.system_prompt, model=body.override_model,
                         response_schema=body.response_schema)
    return {"content": done.content, "model": done.model,
            "usage": {"message_type": "usage_statistics", "prompt_tokens": done.prompt_tokens,
                      "completion_tokens": done.completion_tokens,
                      "total_tokens": done.prompt_tokens + done.completion_tokens, "step_count": 1}}


@router.delete("/{agent_id}")
def delete_agent(ws: WS, agent: AgentDep) -> dict[str, Any]:
    core_agents.delete_agent(ws, agent)
    return {"deleted": agent.id}


@router.post("/{agent_id}/summarize")
def summarize_messages(turns: TurnService, agent: AgentDep, body: CompactRequest | None = None) -> dict[str, Any]:
    """Summarise the older part of the agent's own conversation now (Letta's summarize)."""
    from memos.server.routes.conversations import compact

    return compact(turns, agent, None, body)


@router.post("/{agent_id}/recompile")
def recompile_agent(ws: WS, agent: AgentDep, update_timestamp: bool = False, dry_run: bool = False) -> str:
    """The system message of the agent's own conversation compiled from memory now, which its log
    lists from now on (not with ``dry_run``)."""
    from memos.core.conversations import recompile

    return recompile(ws.store, agent, None, dry_run=dry_run)


@router.post("/{agent_id}/system-prompt/recompile")
def recompile_agent_system_prompt(ws: WS, agent: AgentDep, update_timestamp: bool = False,
                                  dry_run: bool = False) -> str:
    """The older name of /recompile."""
    return recompile_agent(ws, agent, update_timestamp, dry_run)
