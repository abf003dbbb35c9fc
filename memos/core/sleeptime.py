"""Letta's sleep-time agents: a second agent, sharing the main agent's memory blocks, that
reviews the conversation every few turns and keeps the memory up to date, so the main agent
only talks.

The pair is a group ("sleeptime") in the store: the main agent manages it, the sleep-time
agent is its member. Every turn of the main agent (in its own conversation) is counted; every
`frequency` turns the sleep-time agent takes a turn of its own, in the background, on a
transcript of what was said since it last looked. Both are ordinary memos agents: their runs,
messages and memory edits are stored and shown like any other.

This is Letta's per-turn helper; memos's own sleep pass (`memos evolve --sleep`) is the
nightly one, and works on either agent.
"""

from __future__ import annotations

from typing import Any

from memos.errors import NotFound
from memos.store.base import Agent, Group, Message, Store

SLEEPTIME = "sleeptime"
DEFAULT_FREQUENCY = 5  # Letta's
# The tools each side keeps (Letta's BASE_SLEEPTIME_CHAT_TOOLS and BASE_SLEEPTIME_TOOLS).
CHAT_TOOLS = frozenset({"send_message", "conversation_search", "archival_memory_search"})
MEMORY_TOOLS = frozenset({"memory_replace", "memory_insert", "memory_rethink", "memory_finish_edits"})
PERSONA_LABEL = "memory_persona"
PERSONA = ("I am a sleep-time memory agent. I read the conversations of the agent I work for and keep its "
           "memory blocks accurate, organised and free of repetition: I add what it learned, correct what "
           "changed and remove what is stale. I never talk to the user.")
SYSTEM = """You are {agent_name}, a sleep-time memory agent running in memos. You work in the background
for another agent: you read its conversations after they happen and maintain the memory blocks you share
with it. Use memory_insert, memory_replace and memory_rethink to record what is worth keeping (facts about
the user, decisions, preferences, corrections) and to remove what is outdated or repeated. Call
memory_finish_edits when you are done. You never speak to the user."""
REMINDER = """<system-reminder>
You are a sleeptime agent - a background agent that asynchronously processes conversations after they occur.

IMPORTANT: You are NOT the primary agent. You are reviewing a conversation that already happened between a primary agent and its user:
- Messages labeled "assistant" are from the primary agent (not you)
- Messages labeled "user" are from the primary agent's user

Your primary role is memory management. Review the conversation and use your memory tools to update any relevant memory blocks with information worth preserving. Check your memory_persona block for any additional instructions or policies.
</system-reminder>

Messages:
"""
TRANSCRIPT_MESSAGES = 200  # at most this many of the newest messages go into one review


def group_of(store: Store, agent: Agent) -> Group | None:
    """The sleep-time group ``agent`` manages, if it has one."""
    return next((g for g in store.list_groups(agent.id) if g.manager_type == SLEEPTIME
                 and g.manager_agent_id == agent.id), None)


def builtins_for(groups: list[Group], agent_id: str) -> frozenset[str] | None:
    """The built-in tools an agent keeps as one side of a sleep-time pair (None: all of them)."""
    for group in groups:
        if group.manager_type != SLEEPTIME:
            continue
        if group.manager_agent_id == agent_id:
            return CHAT_TOOLS
        if agent_id in group.agent_ids:
            return MEMORY_TOOLS
    return None


def release(store: Store, agent: Agent) -> list[str]:
    """Before ``agent`` is deleted (or its sleep-time turned off): end the groups it is in; the ids
    of the sleep-time agents it managed, which go with it."""
    helpers: list[str] = []
    for group in store.list_groups(agent.id):
        if group.manager_type != SLEEPTIME:
            continue
        if group.manager_agent_id == agent.id:
            helpers += list(group.agent_ids)
        store.delete_group(group.id)
    return helpers


def share_block(store: Store, agent: Agent, block_id: str, attach: bool) -> None:
    """A block attached to (or detached from) a main agent is its sleep-time agents' too."""
    group = group_of(store, agent)
    for helper_id in group.agent_ids if group else ():
        has = {b.id for b in store.list_agent_blocks(helper_id)}
        if attach and block_id not in has:
            store.attach_block(helper_id, block_id)
        elif not attach and block_id in has:
            store.detach_block(helper_id, block_id)


def due_reviews(store: Store, agent: Agent) -> list[tuple[Agent, str]]:
    """Count a finished turn of ``agent``; the (sleep-time agent, review message) pairs due now."""
    group = group_of(store, agent)
    if group is None:
        return []
    newest = store.list_messages(agent.id, limit=1, order="desc")
    if not newest:
        return []
    due, since = store.count_group_turn(group.id, newest[0].id)
    if not due:
        return []
    text = review_message(_since(store, agent, since))
    return [(store.get_agent(helper_id), text) for helper_id in group.agent_ids]


def _since(store: Store, agent: Agent, since: str | None) -> list[Message]:
    try:
        found = store.list_messages(agent.id, after=since, limit=TRANSCRIPT_MESSAGES, order="asc") if since else []
    except NotFound:  # the mark's message is gone: review the newest instead
        found = []
    if not found:
        found = list(reversed(store.list_messages(agent.id, limit=TRANSCRIPT_MESSAGES, order="desc")))
    return found


def review_message(messages: list[Message]) -> str:
    lines = []
    for m in messages:
        if m.role == "user":
            lines.append(f"user: {m.content}")
        elif m.role == "assistant":
            said = [_message_argument(c.get("arguments")) for c in m.tool_calls or [] if c.get("name") == "send_message"]
            text = m.content or " ".join(said)
            if text:
                lines.append(f"assistant: {text}")
        elif m.role == "system" and m.name != "summary":
            lines.append(f"system: {m.content}")
    return REMINDER + "\n".join(lines)


def _message_argument(arguments: Any) -> str:
    """What send_message said, from its call's arguments (a JSON string, as the model wrote them)."""
    import json

    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        return str(arguments)
    return str(parsed.get("message", "")) if isinstance(parsed, dict) else str(parsed)
