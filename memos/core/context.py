"""The context window: what the LLM sees, and summarising the oldest part when it grows too big."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from memos.store.base import Agent, Message, NewMessage, Store

SUMMARY_NAME = "summary"
MAX_IN_CONTEXT = 5_000  # messages fetched when compiling; summarisation keeps far fewer
KEEP_RECENT_SHARE = 0.5  # after summarising, in-context history is at most this share of the window

SUMMARY_PROMPT = """You are summarising the earliest part of a conversation between an AI agent and a user,
so the agent can keep going with less context. Write a concise summary (at most {limit} words) of the
facts, decisions, open questions and the user's preferences in the messages below. Plain prose, no preamble.
{previous}
Messages:
{transcript}"""


def render_blocks(store: Store, agent: Agent) -> str:
    core = store.core_memory(agent.id)
    blocks, messages, passages = core.blocks, core.messages, core.passages
    parts = ["<memory_blocks>", "The following memory blocks are currently engaged in your core memory unit:", ""]
    for block in blocks:
        flags = " read_only=true" if block.read_only else ""
        parts += [f"<{block.label}>", f"<description>{block.description}</description>",
                  f"<metadata>chars_current={len(block.value)} chars_limit={block.limit}{flags}</metadata>",
                  f"<value>\n{block.value}\n</value>", f"</{block.label}>", ""]
    parts.append("</memory_blocks>")
    last_edit = max((b.updated_at for b in blocks), default=None)
    now = datetime.now(timezone.utc)
    parts += ["<memory_metadata>",
              f"- The current time is: {now:%Y-%m-%d %H:%M:%S} UTC",
              f"- Memory blocks were last modified: {last_edit:%Y-%m-%d %H:%M:%S} UTC" if last_edit else "",
              f"- {messages} previous messages between you and the user are stored in recall memory "
              "(use conversation_search to access them)",
              f"- {passages} total memories you created are stored in archival memory "
              "(use archival_memory_search to access them)",
              "</memory_metadata>"]
    return "\n".join(p for p in parts if p is not None)


def to_openai(message: Message) -> dict[str, Any]:
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if message.tool_calls:
            out["tool_calls"] = [{"id": c["id"], "type": "function",
                                  "function": {"name": c["name"], "arguments": c["arguments"]}}
                                 for c in message.tool_calls]
        return out
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    return {"role": message.role, "content": message.content}


@dataclass
class Compiled:
    messages: list[dict[str, Any]]
    history: list[Message]  # the in-context messages, oldest first (summary excluded)
    summary: Message | None


def compile_context(store: Store, agent: Agent) -> Compiled:
    in_context = store.list_messages(agent.id, limit=MAX_IN_CONTEXT, order="asc", in_context=True)
    summaries = [m for m in in_context if m.role == "system" and m.name == SUMMARY_NAME]
    summary = summaries[-1] if summaries else None
    history = [m for m in in_context if not (m.role == "system" and m.name == SUMMARY_NAME)]
    history = _drop_unanswered_tool_calls(history)
    system = agent.system.replace("{agent_name}", agent.name) + "\n\n" + render_blocks(store, agent)
    if summary is not None:
        system += ("\n\n<conversation_summary>\nEarlier messages were summarised to save space (they are still "
                   f"searchable with conversation_search):\n{summary.content}\n</conversation_summary>")
    return Compiled([{"role": "system", "content": system}] + [to_openai(m) for m in history], history, summary)


def _drop_unanswered_tool_calls(history: list[Message]) -> list[Message]:
    """Providers reject an assistant tool call without its result (a pending approval, a crash)."""
    answered = {m.tool_call_id for m in history if m.role == "tool"}
    out = []
    for message in history:
        if message.role == "assistant" and message.tool_calls:
            calls = [c for c in message.tool_calls if c["id"] in answered]
            if len(calls) != len(message.tool_calls):
                if not calls and not message.content:
                    continue
                message = Message(**{**message.__dict__, "tool_calls": calls or None})
        out.append(message)
    return out


def eviction_split(history: list[Message], token_counts: list[int], budget: int) -> int:
    """How many of the oldest messages to evict so the rest fits ``budget`` tokens.

    The cut lands just before a user message, so a tool call is never separated
    from its result. Returns 0 when no such cut exists.
    """
    total = sum(token_counts)
    cut = 0
    for i, message in enumerate(history):
        if total <= budget:
            break
        total -= token_counts[i]
        cut = i + 1
    while cut < len(history) and history[cut].role != "user":
        cut += 1
    return cut if cut < len(history) else 0


def transcript(messages: list[Message]) -> str:
    lines = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            calls = ", ".join(f"{c['name']}({c['arguments']})" for c in m.tool_calls)
            lines.append(f"assistant: {m.content} [called {calls}]".replace(":  [", ": ["))
        else:
            lines.append(f"{m.role}: {m.content}")
    return "\n".join(lines)


def summary_messages(previous: Message | None, evicted: list[Message], word_limit: int) -> list[dict[str, Any]]:
    prior = f"\nThe summary so far (fold it in):\n{previous.content}\n" if previous else ""
    return [{"role": "user", "content": SUMMARY_PROMPT.format(limit=word_limit, previous=prior,
                                                              transcript=transcript(evicted))}]


def new_summary_message(text: str) -> NewMessage:
    return NewMessage("system", text, name=SUMMARY_NAME)


def dumps_arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
