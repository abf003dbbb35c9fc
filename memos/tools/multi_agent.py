"""Letta's multi-agent tools: an agent sends a message to another agent (by id or name, or to
every agent with some tags) and reads its reply. Attached per agent, like any tool: an agent
talks to others only if someone gave it the tool.

A message arrives at the other agent as a system message naming the sender (Letta's words),
and runs a whole turn of that agent, in this process, under its own turn lock. A chain of
agents calling agents stops at MAX_DEPTH, or at once where it loops back to an agent that
waits for it; an agent busy elsewhere answers after the runner's wait (30 s) at most, as an error
the sender reads.
"""

from __future__ import annotations

import threading
from typing import Any

from memos.errors import AgentBusy, InvalidInput
from memos.store.base import Agent, NewTool, Store
from memos.tools.builtins import ToolContext
from memos.tools.registry import ToolSpec

SOURCE_TYPE = "letta_multi_agent"  # a tool row of this source type is one of these tools, attached
MAX_DEPTH = 3  # agent -> agent -> agent: deeper chains are refused
_chain = threading.local()  # the agents of this thread waiting for a reply, first asker first


def _ask(ctx: ToolContext, other: Agent, message: str) -> list[str]:
    """Run a turn of ``other`` for a message from ctx.agent; the texts it sent back."""
    if ctx.converse is None:
        raise InvalidInput("this tool runs inside an agent's turn")
    if other.id == ctx.agent.id:
        raise InvalidInput("an agent cannot send a message to itself")
    chain: list[str] = getattr(_chain, "agents", [])
    if other.id in chain:  # it waits for this reply already: asking it would wait for itself
        raise InvalidInput(f"agent '{other.name}' is waiting for your reply (it asked first); answer it instead")
    if len(chain) >= MAX_DEPTH:
        raise InvalidInput(f"agents are already {len(chain)} deep in messages to each other; answer without "
                           "asking further")
    note = (f"[Incoming message from agent with ID '{ctx.agent.id}' (name '{ctx.agent.name}') - your response will "
            f"be delivered to the sender] {message}")
    _chain.agents = [*chain, ctx.agent.id]
    try:
        replies = ctx.converse(other, note)
    except AgentBusy as exc:
        raise InvalidInput(f"agent '{other.name}' is busy ({exc.message}); try again later") from None
    finally:
        _chain.agents = chain
    return replies or ["<no response>"]


def send_message_to_agent_and_wait_for_reply(ctx: ToolContext, message: str, other_agent_id: str) -> str:
    other = ctx.store.get_agent(other_agent_id)
    return str({"agent_id": other.id, "response": _ask(ctx, other, message)})


def send_message_to_agents_matching_tags(ctx: ToolContext, message: str, match_all: list[str],
                                         match_some: list[str]) -> str:
    every, some = set(match_all), set(match_some)
    chosen = [a for a in ctx.store.list_agents()
              if a.id != ctx.agent.id and every <= set(a.tags) and (not some or some & set(a.tags))]
    if not match_all and not match_some:
        raise InvalidInput("give tags in match_all or match_some: a message to every agent needs them")
    results: list[dict[str, Any]] = []
    for other in chosen:
        try:
            results.append({"agent_id": other.id, "response": _ask(ctx, other, message)})
        except InvalidInput as exc:
            results.append({"agent_id": other.id, "error": exc.message})
    return str(results)


def _spec(function: Any, description: str, parameters: dict[str, Any]) -> ToolSpec:
    return ToolSpec(function.__name__, description, {"type": "object", **parameters}, function)


MULTI_AGENT_TOOLS: dict[str, ToolSpec] = {spec.name: spec for spec in (
    _spec(send_message_to_agent_and_wait_for_reply,
          "Sends a message to another agent (by its id or name) and waits for its reply. Your identity is "
          "included, so no introduction is needed.",
          {"properties": {"message": {"type": "string", "description": "What to tell the other agent."},
                          "other_agent_id": {"type": "string", "description": "The other agent's id (or name)."}},
           "required": ["message", "other_agent_id"]}),
    _spec(send_message_to_agents_matching_tags,
          "Sends a message to every other agent that has all of match_all and at least one of match_some "
          "(when given), and returns their replies.",
          {"properties": {"message": {"type": "string", "description": "What to tell the agents."},
                          "match_all": {"type": "array", "items": {"type": "string"},
                                        "description": "Tags an agent must all have."},
                          "match_some": {"type": "array", "items": {"type": "string"},
                                         "description": "Tags of which an agent must have one (empty: any)."}},
           "required": ["message", "match_all", "match_some"]}),
)}


def by_id(tool_id: str) -> ToolSpec | None:
    """The multi-agent tool with this id (Letta's clients attach tools by id)."""
    from memos.core.letta import builtin_tool_id

    return next((spec for name, spec in MULTI_AGENT_TOOLS.items() if builtin_tool_id(name) == tool_id), None)


def attach(store: Store, agent: Agent, spec: ToolSpec) -> None:
    store.attach_tool(agent.id, NewTool(spec.name, spec.description,
                                        {"name": spec.name, "description": spec.description,
                                         "parameters": spec.parameters}, None, None, SOURCE_TYPE))
