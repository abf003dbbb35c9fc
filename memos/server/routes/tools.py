"""Tools: the built-ins, the shared library (Letta's global tools) and each agent's attached tools."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NotFound
from memos.server import shapes
from memos.server.deps import WS, AgentDep, agent_state, agent_tools
from memos.server.paging import paged
from memos.server.schemas import ApprovalSetting, ToolCreate, ToolRunRequest, ToolSearch, ToolUpdate
from memos.store.base import ToolRecord
from memos.tools import library, multi_agent
from memos.tools.builtins import builtin_specs
from memos.tools.multi_agent import MULTI_AGENT_TOOLS

router = APIRouter(prefix="/v1", tags=["tools"])


@router.get("/tools/")
def list_tools(ws: WS, name: str | None = None, after: str | None = None, before: str | None = None,
               limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """Built-ins first, then the library's and the agents' own tools."""
    tools = [t for t in _all_tools(ws) if name is None or t["name"] == name]
    return paged(tools, after=after, before=before, limit=limit, key=lambda t: t["id"])


@router.post("/tools/search")
def search_tools(ws: WS, body: ToolSearch) -> list[dict[str, Any]]:
    """Tools whose name and description match the query, by words, meaning or both (Letta's
    reciprocal-rank fusion), best first; ``tags`` keeps tools with any of them, ``tool_types``
    tools of those types."""
    from memos.core import tool_search

    tools = [t for t in _all_tools(ws)
             if (not body.tags or set(body.tags) & set(t.get("tags") or []))
             and (not body.tool_types or t.get("tool_type") in body.tool_types)]
    hits = tool_search.search_tools([tool_search.tool_text(t["name"], t.get("description") or "") for t in tools],
                                    body.query or "", body.search_mode, body.limit)
    return [{"tool": tools[h.index], "combined_score": h.combined_score, "fts_rank": h.fts_rank,
             "vector_rank": h.vector_rank, "embedded_text": h.embedded_text} for h in hits]


def _all_tools(ws: Workspace) -> list[dict[str, Any]]:
    """Built-ins first, then the library's and the agents' own tools, as Letta lists them: a copy
    still running its library tool's code is that tool (library.shared_ids), listed once."""
    records = ws.store.list_tools()
    shared = library.shared_ids(records, records)  # (it takes the library's tools among them)
    return ([shapes.builtin_tool(spec) for spec in builtin_specs().values()]
            + [shapes.builtin_tool(spec) for spec in MULTI_AGENT_TOOLS.values()]  # attached per agent
            + [shapes.custom_tool(record) for record in records if record.id not in shared])


@router.post("/tools/add-base-tools")
def add_base_tools(ws: WS) -> list[dict[str, Any]]:
    """Letta's upsert of its base tools. memos's built-ins are part of the program, there whatever
    the store holds: this lists them."""
    return [shapes.builtin_tool(spec) for spec in builtin_specs().values()]


@router.get("/tools/count")
def count_tools(ws: WS, name: str | None = None) -> int:
    if name:
        return len(list_tools(ws, name=name, limit=1000))
    return len(builtin_specs()) + len(MULTI_AGENT_TOOLS) + len(ws.store.list_tools())


def _refuse_builtin_name(source: str) -> None:
    _refuse_builtin(library.function_name(source))


def _refuse_builtin(name: str) -> None:
    if name in builtin_specs():
        raise InvalidInput(f"{name} is a built-in tool", "give your function another name")


@router.post("/tools/", status_code=201)
def create_tool(ws: WS, body: ToolCreate) -> dict[str, Any]:
    """Add a tool to the library from its Python source (schema from its signature and docstring)."""
    _refuse_builtin_name(body.source_code)
    if any(t.name == library.function_name(body.source_code) and t.source_type == "python"
           for t in ws.store.list_tools()):
        raise InvalidInput(f"the library already has a tool named {library.function_name(body.source_code)}",
                           "use PUT /v1/tools/ to replace it")
    return shapes.custom_tool(_save(ws, body))


def _save(ws: Workspace, body: ToolCreate) -> ToolRecord:
    schema = library.given_schema(library.function_name(body.source_code), body.json_schema, body.args_json_schema,
                                  body.description)
    return library.save(ws, body.source_code, body.description, schema, tags=body.tags,
                        return_char_limit=body.return_char_limit, requires_approval=body.default_requires_approval)


@router.put("/tools/")
def upsert_tool(ws: WS, body: ToolCreate) -> dict[str, Any]:
    """Create the tool, or replace the library's tool of the same name."""
    _refuse_builtin_name(body.source_code)
    return shapes.custom_tool(_save(ws, body))


@router.get("/tools/{tool_id}")
def get_tool(ws: WS, tool_id: str) -> dict[str, Any]:
    for spec in [*builtin_specs().values(), *MULTI_AGENT_TOOLS.values()]:
        if shapes.builtin_tool_id(spec.name) == tool_id:
            return shapes.builtin_tool(spec)
    return shapes.custom_tool(ws.store.get_tool(tool_id))


@router.patch("/tools/{tool_id}")
def update_tool(ws: WS, tool_id: str, body: ToolUpdate) -> dict[str, Any]:
    """A library tool's new source (described again in the sandbox) or description."""
    if tool_id in {shapes.builtin_tool_id(name) for name in builtin_specs()}:
        raise InvalidInput("built-in tools cannot be changed", "create your own tool with another name")
    if body.source_code is not None:
        _refuse_builtin_name(body.source_code)
    if body.json_schema is not None and body.json_schema.get("name"):
        _refuse_builtin(str(body.json_schema["name"]))
    return shapes.custom_tool(library.update(ws, ws.store.get_tool(tool_id), source_code=body.source_code,
                                             description=body.description, tags=body.tags,
                                             return_char_limit=body.return_char_limit,
                                             requires_approval=body.default_requires_approval,
                                             json_schema=body.json_schema))


@router.delete("/tools/{tool_id}")
def delete_tool(ws: WS, tool_id: str) -> dict[str, Any]:
    """Delete a tool; agents that had it attached lose it (their repo keeps the file and its history)."""
    if tool_id in {shapes.builtin_tool_id(name) for name in builtin_specs()}:
        raise InvalidInput("built-in tools cannot be deleted", "limit them with tool rules instead")
    return {"deleted": tool_id, "detached_from": library.delete(ws, ws.store.get_tool(tool_id))}


@router.post("/agents/{agent_id}/tools/{tool_name}/run")
def run_tool(ws: WS, agent: AgentDep, tool_name: str, body: ToolRunRequest | None = None) -> dict[str, Any]:
    """Run one of the agent's tools now with these arguments (Letta's ToolExecutionResult)."""
    from memos.tools.manage import run_now

    done = run_now(ws, agent, tool_name, dict((body.args if body else None) or {}))
    return {"status": "success" if done.ok else "error", "func_return": done.value,
            "stdout": done.stdout.splitlines() if done.stdout else [],
            "stderr": done.stderr.splitlines() if done.stderr else []}


@router.get("/agents/{agent_id}/tools")
def list_agent_tools(ws: WS, agent: AgentDep, after: str | None = None, before: str | None = None,
                     limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    return paged(agent_tools(ws, agent), after=after, before=before, limit=limit, key=lambda t: t["id"])


@router.patch("/agents/{agent_id}/tools/approval/{tool_name}")
def update_approval(ws: WS, agent: AgentDep, tool_name: str, body: ApprovalSetting | None = None,
                    requires_approval: bool | None = None) -> dict[str, Any]:
    """Whether the agent asks a person before each call of this tool (Letta's update_approval;
    the body's requires_approval, or the older query parameter)."""
    required = body.requires_approval if body is not None and body.requires_approval is not None else requires_approval
    if required is None:
        raise InvalidInput("say requires_approval: true or false", 'send {"requires_approval": true}')
    library.set_requires_approval(ws, agent, tool_name, required)
    return agent_state(ws, ws.store.get_agent(agent.id))


@router.patch("/agents/{agent_id}/tools/attach/{tool_id}")
def attach_tool(ws: WS, agent: AgentDep, tool_id: str) -> dict[str, Any]:
    """Attach a library tool (its code is copied into the agent's tool repo) or another agent's tool."""
    from memos.mcp_tools import tools as mcp_tools

    if tool_id in {shapes.builtin_tool_id(name) for name in builtin_specs()}:
        return agent_state(ws, agent)  # built-ins are always on
    if (letta_tool := multi_agent.by_id(tool_id)) is not None:
        multi_agent.attach(ws.store, agent, letta_tool)
        return agent_state(ws, agent)
    remote = mcp_tools.find_by_id(ws, tool_id)
    if remote is not None:
        mcp_tools.attach(ws, agent, *remote)
    else:
        library.attach(ws, agent, ws.store.get_tool(tool_id))
    return agent_state(ws, agent)


@router.patch("/agents/{agent_id}/tools/detach/{tool_id}")
def detach_tool(ws: WS, agent: AgentDep, tool_id: str) -> dict[str, Any]:
    if tool_id in {shapes.builtin_tool_id(name) for name in builtin_specs()}:
        raise InvalidInput("built-in tools cannot be detached", "limit them with tool rules instead")
    from memos.mcp_tools import tools as mcp_tools

    records = ws.store.list_agent_tools(agent.id)
    name = next((t.name for t in records if t.id == tool_id), None)
    if name is None and (letta_tool := multi_agent.by_id(tool_id)) is not None:
        name = letta_tool.name if letta_tool.name in {t.name for t in records} else None
    if name is None and (remote := mcp_tools.find_by_id(ws, tool_id)) is not None:
        name = mcp_tools.attached_as(ws, agent, *remote)
    if name is None:  # a library tool's id: the agent has its own copy, by the same name
        library_name = next((t.name for t in ws.store.list_tools() if t.id == tool_id), None)
        name = library_name if library_name in {t.name for t in records} else None
    if name is None:
        raise NotFound(f"tool '{tool_id}' is not attached to agent '{agent.name}'")
    ws.store.detach_tool(agent.id, name)
    return agent_state(ws, agent)
