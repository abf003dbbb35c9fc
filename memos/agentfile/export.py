"""Writing a memos agent as a Letta agent file (the current multi-entity format).

What memos kept from an import that it cannot use (``letta_agent_file`` in the agent's
metadata: Letta's own tools, rules it does not enforce, groups, files, the full llm_config) goes
back into the file, so Letta -> memos -> Letta loses nothing memos was given, and
memos -> .af -> memos gives the same agent (its block history excepted).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from memos import __version__
from memos.agentfile.configs import KEPT
from memos.agentfile.folders import export_folders
from memos.core.letta import AGENT_TYPE, embedding_config_for, llm_config_for, message_tool_calls, tool_type
from memos.core.workspace import Workspace
from memos.store.base import Agent, Message
from memos.tools.multi_agent import SOURCE_TYPE as MULTI_AGENT_SOURCE

if TYPE_CHECKING:
    from memos.tools.repo import ToolRepo

MAX_EXPORTED_MESSAGES = 1_000_000


def export_agent(ws: Workspace, agent: Agent, *, messages: bool = True) -> dict[str, Any]:
    """The agent as an AgentFileSchema document (JSON-ready)."""
    from memos.tools.builtins import builtin_specs

    kept: dict[str, Any] = dict(agent.metadata.get(KEPT) or {})
    blocks = ws.store.list_agent_blocks(agent.id)
    block_docs: list[dict[str, Any]] = [{"id": f"block-{i}", "label": b.label, "value": b.value, "limit": b.limit,
                   "description": b.description or None, "read_only": b.read_only, "is_template": False,
                   "metadata": {}} for i, b in enumerate(blocks)]
    tools, tool_ids = _tool_docs(ws, agent, builtin_specs(), kept.get("tools") or [],
                                 set(kept.get("detached_tools") or []))
    log = _messages(ws, agent) if messages else []
    message_docs = [{"id": "message-0", "role": "system", "content": [{"type": "text", "text": agent.system}],
                     "agent_id": "agent-0", "created_at": _iso(agent.created_at)}] if messages else []
    in_context = ["message-0"] if messages else []
    for i, message in enumerate(log, start=1):
        message_docs.append(_message_doc(message, f"message-{i}"))
        if message.in_context:
            in_context.append(f"message-{i}")
    agent_doc = {
        **(kept.get("agent") or {}),
        "id": "agent-0", "name": agent.name, "description": agent.description or None, "system": agent.system,
        "agent_type": kept.get("agent_type") or AGENT_TYPE,
        "llm_config": llm_config_for(agent.model, agent.context_window, kept.get("llm_config"), agent.max_tokens),
        "embedding_config": embedding_config_for(agent.embedding_model, kept.get("embedding_config")),
        "block_ids": [b["id"] for b in block_docs], "tool_ids": tool_ids,
        "tool_rules": [*agent.tool_rules, *(kept.get("tool_rules") or [])], "tags": list(agent.tags),
        "metadata": {k: v for k, v in agent.metadata.items() if k != KEPT} or None,
        "response_format": agent.response_format,
        "messages": message_docs, "in_context_message_ids": in_context,
        "memory_blocks": [], "tools": [], "include_base_tools": False,
    }
    sources, files, links, source_ids = export_folders(ws, agent)
    if source_ids:
        agent_doc.update(source_ids=source_ids, files_agents=links)
    return {"agents": [agent_doc], "groups": kept.get("groups") or [], "blocks": block_docs,
            "files": [*(kept.get("files") or []), *files], "sources": [*(kept.get("sources") or []), *sources],
            "tools": tools,
            "mcp_servers": _mcp_servers(ws, tools, kept.get("mcp_servers") or []), "skills": kept.get("skills") or [],
            "metadata": {"exported_by": f"memos {__version__}"}, "created_at": _iso(datetime.now(UTC))}


def _tool_docs(ws: Workspace, agent: Agent, builtins: dict[str, Any], kept: list[dict[str, Any]],
               detached_in_letta: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The file's tools and the ids of those the agent uses: built-ins, its attached tools, the
    Letta tools memos kept aside, and (unused by the agent, as Letta lists a tool no agent has)
    the tools in its repo it does not have attached."""
    from memos.mcp_tools.tools import is_mcp, parse_address
    from memos.tools.shared_code import tool_repo

    repo = tool_repo(ws, agent)
    docs: list[dict[str, Any]] = []
    for name, spec in builtins.items():
        schema = {"name": name, "description": spec.description, "parameters": spec.parameters}
        docs.append({"name": name, "tool_type": tool_type(name), "source_type": "python",
                     "description": spec.description, "json_schema": schema, "tags": [], "source_code": None})
    for record in ws.store.list_agent_tools(agent.id):
        if is_mcp(record):  # an MCP server's tool: no source, its server named (see mcp_servers)
            server, remote = parse_address(record.source_code or "")
            docs.append({"name": record.name, "tool_type": "external_mcp", "source_type": "python",
                         "description": record.description, "json_schema": record.json_schema,
                         "tags": [f"mcp:{server}"], "source_code": None,
                         "metadata_": {"mcp": {"server_name": server, "tool_name": remote}}})
            continue
        if record.source_type == MULTI_AGENT_SOURCE:  # one of Letta's own tools, given to this agent
            docs.append({"name": record.name, "tool_type": tool_type(record.name), "source_type": "python",
                         "description": record.description, "json_schema": record.json_schema, "tags": [],
                         "source_code": None})
            continue
        docs.append({"name": record.name, "tool_type": "custom", "source_type": "python",
                     "description": record.description, "json_schema": record.json_schema, "tags": [],
                     "source_code": _source(repo, record.name) or record.source_code,
                     **({"default_requires_approval": True} if record.requires_approval else {})})
    have = {d["name"] for d in docs}
    docs.extend(dict(tool) for tool in kept if tool.get("name") not in have)
    used = len(docs)
    for name in repo.tool_names():
        if name not in have and (code := _source(repo, name)) is not None:
            docs.append({"name": name, "tool_type": "custom", "source_type": "python", "description": "",
                         "json_schema": None, "tags": [], "source_code": code})
    for i, doc in enumerate(docs):
        doc["id"] = f"tool-{i}"
    return docs, [d["id"] for i, d in enumerate(docs) if i < used or d["name"] in detached_in_letta]


def _mcp_servers(ws: Workspace, tools: list[dict[str, Any]], kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The MCP servers the agent's tools come from, as configured here (no environment values,
    no headers: those may be secrets), after those kept from an import."""
    from memos.mcp_tools.servers import list_servers

    used = {t["metadata_"]["mcp"]["server_name"] for t in tools if t.get("tool_type") == "external_mcp"
            and isinstance(t.get("metadata_"), dict) and "mcp" in t["metadata_"]}
    out = list(kept)
    have = {s.get("server_name") for s in out}
    for server in list_servers(ws.config):
        if server.name in used and server.name not in have:
            out.append({"server_type": "streamable_http" if server.url else "stdio", "server_name": server.name,
                        "server_url": server.url,
                        "stdio_config": None if server.url else {"command": server.command[0], "args": server.command[1:]},
                        "metadata_": None})
    for i, doc in enumerate(out):
        doc["id"] = f"mcp_server-{i}"
    return out


def _source(repo: ToolRepo, name: str) -> str | None:
    """The tool's code as the agent's repo has it now (what the agent runs)."""
    try:
        return repo.tool_file(name).read_text(encoding="utf-8")
    except OSError:
        return None


def _messages(ws: Workspace, agent: Agent) -> list[Message]:
    return ws.store.list_messages(agent.id, order="asc", limit=MAX_EXPORTED_MESSAGES)


def _message_doc(message: Message, key: str) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": key, "role": message.role, "content": [{"type": "text", "text": message.content}],
                           "agent_id": "agent-0", "created_at": _iso(message.created_at)}
    if message.name:
        doc["name"] = message.name
    if message.tool_calls:
        doc["tool_calls"] = message_tool_calls(message.tool_calls)
    if message.tool_call_id:
        doc["tool_call_id"] = message.tool_call_id
    return doc


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
