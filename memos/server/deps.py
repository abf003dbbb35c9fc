"""Things routes ask for: the workspace, the agent named in the path, the turn service."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from memos.core import sleeptime
from memos.core.workspace import Workspace
from memos.server import shapes
from memos.server.turns import Turns
from memos.store.base import Agent, Group, Message, ToolCallRecord, ToolRecord
from memos.tools.offered import offered_builtins, offered_for
from memos.tools.registry import ToolSpec


# async: FastAPI runs a plain def dependency on a worker thread, a thread hop per request for
# reading an attribute (these two are asked for by nearly every route).
async def workspace(request: Request) -> Workspace:
    return request.app.state.ws


async def turns(request: Request) -> Turns:
    return request.app.state.turns


WS = Annotated[Workspace, Depends(workspace)]
TurnService = Annotated[Turns, Depends(turns)]


AgentId = Annotated[str, Path(description="The agent's id (or its name)")]


def agent(ws: WS, agent_id: AgentId) -> Agent:
    """(A plain def dependency runs on a worker thread of its own: the routes of a turn, where a
    millisecond counts, take `AgentId` and read the agent on the route's thread instead.)"""
    return ws.store.get_agent(agent_id)


AgentDep = Annotated[Agent, Depends(agent)]


def _tools(offered: dict[str, ToolSpec], records: list[ToolRecord], library: list[ToolRecord]) -> list[dict[str, Any]]:
    """The built-ins the agent is offered (tools/offered.py), then its own tools; a copy still
    running its library tool's code under that tool's id (library.shared_ids)."""
    from memos.tools.library import shared_ids

    shared = shared_ids(library, records)
    return [shapes.builtin_tool(spec) for spec in offered.values()] + [
        shapes.custom_tool(replace(r, id=shared.get(r.id, r.id))) for r in records]


def agent_tools(ws: Workspace, agent: Agent) -> list[dict[str, Any]]:
    return _tools(offered_for(ws.store, agent), ws.store.list_agent_tools(agent.id), ws.store.library_tools())


def agent_state(ws: Workspace, agent: Agent) -> dict[str, Any]:
    return agent_states(ws, [agent])[0]


def agent_states(ws: Workspace, agents: list[Agent], *, with_blocks: bool = True) -> list[dict[str, Any]]:
    """Many agents in two reads (blocks, tools) rather than two per agent. ``with_blocks=False``:
    the memory blocks left out, as Letta leaves them out of a read without include=agent.blocks."""
    ids = [a.id for a in agents]
    blocks = ws.store.blocks_by_agent(ids) if with_blocks else {a.id: [] for a in agents}
    tools = ws.store.tools_by_agent(ids)
    folders = {a.id: ws.store.agent_folders(a.id) for a in agents}
    groups = ws.store.list_groups()
    stop_reasons = ws.store.last_stop_reasons(ids)
    in_context = ws.store.in_context_message_ids(ids)
    identities = ws.store.list_identities()
    library = ws.store.library_tools()
    return [shapes.agent_state(a, blocks[a.id], _tools(offered_builtins(a.id, groups, bool(folders[a.id])), tools[a.id],
                                                       library),
                               folders[a.id], _sleeptime_group(groups, a.id), stop_reasons.get(a.id),
                               [shapes.system_message_id(a), *in_context.get(a.id, [])],
                               [i for i in identities if a.id in i.agent_ids])
            for a in agents]


def pending_call_ids(ws: Workspace, agent_id: str) -> set[str]:
    """The ids of the agent's tool calls waiting for a decision: shapes.stored_messages shows
    those as approval requests."""
    return {call.tool_call_id for call in ws.store.pending_tool_calls(agent_id)}


class CallStates:
    """What listing an agent's stored messages needs to know of their tool calls: which wait for a
    decision (shown as approval requests), and how the settled ones were decided (their results
    are preceded by the approval response). ``seen`` learns the decisions of a batch of messages."""

    def __init__(self, ws: Workspace, agent_id: str) -> None:
        self.ws, self.agent_id = ws, agent_id
        self.pending = pending_call_ids(ws, agent_id)
        self.decisions: dict[str, list[ToolCallRecord]] = {}  # by the batch's first tool_call_id
        self._known: set[str] = set()

    def seen(self, messages: list[Message]) -> list[Message]:
        results = [m.tool_call_id for m in messages if m.role == "tool" and m.tool_call_id
                   and m.tool_call_id not in self._known]
        self._known.update(c for c in results if c)
        for record in self.ws.store.decided_calls(self.agent_id, [c for c in results if c]):
            batch = self.decisions.setdefault(record.decision_batch or record.tool_call_id, [])
            if record.id not in {r.id for r in batch}:
                batch.append(record)
        return messages

    def shape(self, messages: list[Message]) -> list[dict[str, Any]]:
        return shapes.stored_messages(self.seen(messages), self.pending, self.decisions)


def pending_approval(ws: Workspace, agent: Agent) -> dict[str, Any] | None:
    """Letta's ``include=agent.pending_approval``: the approval request the agent waits on (every
    call of it in ``tool_calls``), or None."""
    pending = pending_call_ids(ws, agent.id)
    if not pending:
        return None
    for message in ws.store.list_messages(agent.id, limit=20, order="desc"):
        asked = [m for m in shapes.stored_messages([message], pending) if m["message_type"] == "approval_request_message"]
        if asked:  # (one message per LLM response, its waiting calls in tool_calls)
            return {**asked[0], "tool_calls": [c for m in asked for c in m.get("tool_calls") or [m["tool_call"]]]}
    return None


def _sleeptime_group(groups: list[Group], agent_id: str) -> Group | None:
    return next((g for g in groups if g.manager_type == sleeptime.SLEEPTIME
                 and (g.manager_agent_id == agent_id or agent_id in g.agent_ids)), None)
