"""The context window: what the LLM sees, and summarising the oldest part when it grows too big."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memos.core.folders import directories_for
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


def render_blocks(store: Store, agent: Agent, seen: dict[str, int] | None = None,
                  conversation: str | None = None, in_context: int | None = None) -> str:
    """The memory blocks as the prompt shows them; ``seen`` gets each block's version as shown."""
    head, sections, tail = block_sections(store, agent, seen, conversation, in_context)
    return "\n".join([head, *(text for _, text in sections), tail])


def block_sections(store: Store, agent: Agent, seen: dict[str, int] | None = None,
                   conversation: str | None = None,
                   in_context: int | None = None) -> tuple[str, list[tuple[str, str]], str]:
    """The memory part of the prompt in pieces: its opening, each block's section (by label), and
    the closing with the memory metadata (which names the agent and the conversation, as Letta's
    does: an agent gives its id to others through the multi-agent tools). `memos context` counts
    each piece's tokens."""
    core = store.core_memory(agent.id)
    blocks, messages, passages = core.blocks, core.messages, core.passages
    if seen is not None:
        seen.update({block.label: block.version for block in blocks})
    head = "\n".join(["<memory_blocks>", "The following memory blocks are currently engaged in your core memory unit:", ""])
    sections = []
    for block in blocks:
        flags = " read_only=true" if block.read_only else ""
        sections.append((block.label, "\n".join([
            f"<{block.label}>", f"<description>{block.description}</description>",
            f"<metadata>chars_current={len(block.value)} chars_limit={block.limit}{flags}</metadata>",
            f"<value>\n{block.value}\n</value>", f"</{block.label}>", ""])))
    last_edit = max((b.updated_at for b in blocks), default=None)
    if in_context is None:  # (a prompt being compiled says; a read of it counts them here, as it does)
        in_context = min(store.count_in_context(agent.id, conversation), MAX_IN_CONTEXT + 1)
    # Nothing in this text changes from one step to the next unless memory or the context does:
    # a provider's prompt cache then keeps the whole conversation, and the system message read
    # back between turns is the one the model read (Letta keeps it until recompiled). The prompt is
    # compiled afresh from the current memory at every step all the same. (Letta 0.16.8 no longer
    # writes the current date here either.)
    compiled_as = last_edit or agent.updated_at
    tail = ["</memory_blocks>", "<memory_metadata>",
            f"- AGENT_ID: {agent.id}", f"- CONVERSATION_ID: {conversation or 'default'}",
            f"- System prompt last recompiled: {compiled_as:%Y-%m-%d %H:%M:%S} UTC",
            f"- Memory blocks were last modified: {last_edit:%Y-%m-%d %H:%M:%S} UTC" if last_edit else "",
            # Letta's count: the messages out of the context window (the rest the model reads)
            f"- {max(0, messages - in_context)} previous messages between you and the user are stored in "
            "recall memory (use conversation_search to access them)",
            f"- {passages} total memories you created are stored in archival memory "
            "(use archival_memory_search to access them)",
            "</memory_metadata>"]
    return head, sections, "\n".join(p for p in tail if p)


def available_skills(skills: Sequence[dict[str, Any]]) -> str:
    """The client's skills (Letta's client_skills: name, description, location) as the prompt
    names them for one request, in Letta's <available_skills> block; "" when there are none."""
    seen: set[str] = set()
    lines = []
    for skill in skills:
        name = str(skill.get("name", "")).strip()
        if not name or name in seen:
            continue
        seen.add(name)
        description = str(skill.get("description") or "").strip().split("\n")[0].strip()
        location = str(skill.get("location") or "").strip()
        lines.append(f"- {name}" + (f": {description}" if description else "") + (f" ({location})" if location else ""))
    return "\n\n<available_skills>\n" + "\n".join(lines) + "\n</available_skills>" if lines else ""


CHARS_PER_TOKEN = 4  # a rough, generous figure for sizing views of text against a token window
MESSAGE_VIEW_SHARE = 0.25  # one message may fill at most this share of the window in the prompt


def message_view_limit(context_window: int) -> int:
    """How many characters of one message the prompt shows; longer ones are cut with a pointer."""
    return max(2_000, int(context_window * CHARS_PER_TOKEN * MESSAGE_VIEW_SHARE))


def _view(message: Message, limit: int | None) -> str:
    text = message.content
    if limit is None or len(text) <= limit:
        return text
    return (text[:limit] + f"\n[message {message.id} is {len(text):,} chars; the rest is not shown here. "
            "conversation_search finds the whole text]")


def sendable_arguments(raw: Any) -> str:
    """A stored call's arguments as a request may carry them: a JSON object always. A call the
    model never finished (cut off by its token limit: ``{"content": "My old``) or wrote badly
    is kept as it came, for display, but goes back to the model as ``{}``: its tool return
    already told the model what was wrong, and servers such as llama.cpp refuse (HTTP 500,
    on every later request) a history holding arguments that are not JSON."""
    text = raw if isinstance(raw, str) else json.dumps(raw)
    try:
        parsed = json.loads(text) if text.strip() else {}
    except ValueError:
        return "{}"
    return text if isinstance(parsed, dict) else "{}"


def to_openai(message: Message, limit: int | None = None) -> dict[str, Any]:
    if message.role == "assistant":
        out: dict[str, Any] = {"role": "assistant", "content": _view(message, limit) or None}
        if message.tool_calls:
            out["tool_calls"] = [{"id": c["id"], "type": "function",
                                  "function": {"name": c["name"], "arguments": sendable_arguments(c["arguments"])}}
                                 for c in message.tool_calls]
        return out
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": _view(message, limit)}
    return {"role": message.role, "content": _view(message, limit)}


@dataclass
class Compiled:
    messages: list[dict[str, Any]]
    history: list[Message]  # the in-context messages shown, oldest first (summary excluded)
    summary: Message | None
    older: bool = False  # more messages are in context than MAX_IN_CONTEXT: some were not fetched
    versions: dict[str, int] = field(default_factory=dict)  # block label -> version shown


def is_summary(message: Message) -> bool:
    return message.role == "system" and message.name == SUMMARY_NAME


def compile_context(store: Store, agent: Agent, conversation: str | None = None) -> Compiled:
    """The prompt of one of the agent's conversations (None: its own): the agent's system prompt
    and memory blocks, then that conversation's in-context messages."""
    # The newest MAX_IN_CONTEXT in-context messages; one more tells whether older ones remain
    # (then the loop summarises: the prompt never silently loses the newest messages).
    newest = store.list_messages(agent.id, limit=MAX_IN_CONTEXT + 1, order="desc", in_context=True,
                                 conversation=conversation)
    older = len(newest) > MAX_IN_CONTEXT
    in_context = list(reversed(newest[:MAX_IN_CONTEXT]))
    summaries = [m for m in in_context if is_summary(m)]
    summary = summaries[-1] if summaries else None
    history = well_formed([m for m in in_context if not is_summary(m)])
    versions: dict[str, int] = {}
    system = (agent.system.replace("{agent_name}", agent.name) + "\n\n"
              + render_blocks(store, agent, versions, conversation, len(newest)))
    directories = directories_for(store, agent)
    if directories:
        system += "\n\n" + directories
    if summary is not None:
        system += ("\n\n<conversation_summary>\nEarlier messages were summarised to save space (they are still "
                   f"searchable with conversation_search):\n{summary.content}\n</conversation_summary>")
    limit = message_view_limit(agent.context_window)
    return Compiled([{"role": "system", "content": system}] + [to_openai(m, limit) for m in history],
                    history, summary, older, versions)


def well_formed(history: list[Message]) -> list[Message]:
    """The history as a provider accepts it, whatever the stored rows say.

    OpenAI-style APIs want every tool message right after the assistant message that
    made its call, and every call of an assistant message answered before anything
    else. Rows can break that (a pending approval, an imported log, a tool message added
    by hand, a crash in old versions), and one bad row would make every later request
    invalid. So: a tool message that answers no open call is dropped, and an assistant
    message keeps only the calls answered right after it (it is dropped if that leaves
    it empty).
    """
    out: list[Message] = []
    open_calls: dict[str, int] = {}  # call id -> index in ``out`` of the assistant message
    answered: set[str] = set()

    def close_open() -> None:
        for index in sorted(set(open_calls.values()), reverse=True):
            message = out[index]
            calls = [c for c in message.tool_calls or [] if c["id"] in answered]
            if len(calls) != len(message.tool_calls or []):
                if not calls and not message.content:
                    del out[index]
                    continue
                out[index] = Message(**{**message.__dict__, "tool_calls": calls or None})
        open_calls.clear()
        answered.clear()

    for message in history:
        if message.role == "tool":
            if message.tool_call_id in open_calls and message.tool_call_id not in answered:
                answered.add(message.tool_call_id)
                out.append(message)
            continue  # an orphan: it answers no call made just before it
        close_open()
        out.append(message)
        if message.role == "assistant" and message.tool_calls:
            open_calls.update({c["id"]: len(out) - 1 for c in message.tool_calls})
    close_open()
    return out


def eviction_split(history: list[Message], token_counts: list[int], budget: int, *,
                   keep_at_most: int | None = None, within_turn: bool = False) -> int:
    """How many of the oldest messages to evict so the rest fits ``budget`` tokens (and, with
    ``keep_at_most``, that many messages).

    The cut lands just before a user message, so a turn stays whole. With ``within_turn``
    (the prompt must shrink now), where no user message follows, just before any message
    that is not a tool result, so a call is never separated from its result. When even what
    follows the last such cut passes the budget (a small window, most of it taken by the system
    prompt and the tool schemas), every turn before the newest goes. Returns 0 when no cut
    exists at all.
    """
    total = sum(token_counts)
    cut = 0
    for i in range(len(history)):
        if total <= budget and (keep_at_most is None or len(history) - cut <= keep_at_most):
            break
        total -= token_counts[i]
        cut = i + 1
    if cut == 0:
        return 0
    rules = (lambda m: m.role == "user", lambda m: m.role != "tool")
    for wanted in rules if within_turn else rules[:1]:
        at = next((i for i in range(cut, len(history)) if wanted(history[i])), None)
        if at is None:
            at = next((i for i in range(min(cut, len(history)) - 1, 0, -1) if wanted(history[i])), None)
        if at is not None:
            return at
    return 0


SUMMARY_LINE_CHARS = 4_000  # what a summary is shown of one message (a huge paste needs no more)
SUMMARY_CHUNK_SHARE = 0.5  # one summary request carries at most this share of the window (plus the summary so far)
SUMMARY_CHARS_PER_TOKEN = 3  # conservative: denser text than English must still fit


def transcript_line(m: Message) -> str:
    content = m.content if len(m.content) <= SUMMARY_LINE_CHARS else (
        m.content[:SUMMARY_LINE_CHARS] + f" [... {len(m.content) - SUMMARY_LINE_CHARS:,} more chars]")
    if m.role == "assistant" and m.tool_calls:
        calls = ", ".join(f"{c['name']}({str(c['arguments'])[:SUMMARY_LINE_CHARS]})" for c in m.tool_calls)
        return f"assistant: {content} [called {calls}]".replace(":  [", ": [")
    return f"{m.role}: {content}"


def transcript(messages: list[Message]) -> str:
    return "\n".join(transcript_line(m) for m in messages)


def summary_chunks(messages: list[Message], context_window: int) -> list[str]:
    """The transcript of ``messages`` in pieces that each fit one summary request."""
    budget = max(1_000, int(context_window * SUMMARY_CHUNK_SHARE * SUMMARY_CHARS_PER_TOKEN))
    chunks: list[str] = []
    lines: list[str] = []
    size = 0
    for message in messages:
        line = transcript_line(message)[:budget]
        if lines and size + len(line) > budget:
            chunks.append("\n".join(lines))
            lines, size = [], 0
        lines.append(line)
        size += len(line) + 1
    if lines:
        chunks.append("\n".join(lines))
    return chunks


def summary_request(previous: str | None, chunk: str, word_limit: int) -> list[dict[str, Any]]:
    prior = f"\nThe summary so far (fold it in):\n{previous}\n" if previous else ""
    return [{"role": "user", "content": SUMMARY_PROMPT.format(limit=word_limit, previous=prior,
                                                              transcript=chunk)}]


def unsummarised_note(previous: str | None, count: int, why: str) -> str:
    """The summary kept when summarising failed: what was there, and that messages left unread."""
    note = (f"[{count:,} older messages were taken out of context without being summarised ({why}); "
            "they are still searchable with conversation_search.]")
    return f"{previous}\n{note}" if previous else note


def new_summary_message(text: str) -> NewMessage:
    return NewMessage("system", text, name=SUMMARY_NAME)


def dumps_arguments(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)
