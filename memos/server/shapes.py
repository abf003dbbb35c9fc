"""memos records in Letta's JSON shapes (as letta-client 1.12 reads them).

Pure functions from store records and loop events to dicts; the routes return
them as they are. Field names and `message_type` values follow LETTA-COMPAT.md.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from memos.core import events as ev
from memos.core import letta
from memos.core.completion import partial_string_field
from memos.core.context import SUMMARY_NAME
from memos.core.letta import builtin_tool_id
from memos.core.limits import TOOL_RETURN_LIMIT
from memos.store import ids
from memos.store.base import (
    Agent,
    Block,
    Conversation,
    Folder,
    Group,
    Identity,
    Message,
    Passage,
    ToolCallRecord,
    ToolRecord,
)
from memos.tools.registry import ToolSpec
from memos.tools.reply import REPLY_TOOL

ASSISTANT_TOOL = REPLY_TOOL


def iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat()


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def block(b: Block) -> dict[str, Any]:
    return {"id": b.id, "label": b.label, "value": b.value, "limit": b.limit, "description": b.description,
            "read_only": b.read_only, "is_template": b.is_template, "metadata": {}, "tags": [],
            "hidden": False, "created_at": iso(b.created_at), "updated_at": iso(b.updated_at)}


def llm_config(agent: Agent) -> dict[str, Any]:
    # The whole litellm name as the model: what clients send back to create or change an agent.
    return {"model": agent.model, "model_endpoint_type": letta.endpoint_of(agent.model), "handle": agent.model,
            "context_window": agent.context_window, "max_tokens": agent.max_tokens}


def embedding_config(model: str) -> dict[str, Any]:
    return letta.embedding_config_for(model)


def identity(i: Identity) -> dict[str, Any]:
    return {"id": i.id, "identifier_key": i.identifier_key, "name": i.name, "identity_type": i.identity_type,
            "project_id": i.project_id, "agent_ids": list(i.agent_ids), "block_ids": list(i.block_ids),
            "organization_id": None, "properties": list(i.properties)}


def agent_state(agent: Agent, blocks: list[Block], tools: list[dict[str, Any]],
                folders: list[Folder] | None = None, group: Group | None = None,
                last_stop_reason: str | None = None, message_ids: list[str] | None = None,
                identities: list[Identity] | None = None) -> dict[str, Any]:
    shaped = [block(b) for b in blocks]
    helper = group is not None and agent.id in group.agent_ids  # the sleep-time side of a pair
    kind = "sleeptime_agent" if helper else letta.AGENT_TYPE
    return {
        "id": agent.id, "name": agent.name, "description": agent.description, "agent_type": kind,
        "system": agent.system, "model": agent.model, "embedding": agent.embedding_model,
        "llm_config": llm_config(agent), "embedding_config": embedding_config(agent.embedding_model),
        "blocks": shaped, "memory": {"blocks": shaped, "agent_type": kind},
        "tools": tools, "tool_rules": agent.tool_rules,
        "sources": [folder(f) for f in folders or []], "tags": agent.tags,
        "enable_sleeptime": group is not None and group.manager_agent_id == agent.id,
        "multi_agent_group": group_shape(group) if group is not None else None,
        "metadata": agent.metadata, "created_at": iso(agent.created_at), "updated_at": iso(agent.updated_at),
        "last_stop_reason": last_stop_reason, "response_format": agent.response_format,
        "message_ids": message_ids,  # the context: the system message, then what is in it
        "identities": [identity(i) for i in identities or []], "identity_ids": [i.id for i in identities or []],
    }


def group_shape(g: Group) -> dict[str, Any]:
    """Letta's Group (a sleep-time pair, the only kind memos runs)."""
    return {"id": g.id, "manager_type": g.manager_type, "manager_agent_id": g.manager_agent_id,
            "agent_ids": list(g.agent_ids), "description": g.description or "",
            "sleeptime_agent_frequency": g.frequency, "turns_counter": g.turns_counter,
            "last_processed_message_id": g.last_processed_message_id, "shared_block_ids": [], "hidden": False,
            "max_turns": None, "termination_token": None, "max_message_buffer_length": None,
            "min_message_buffer_length": None, "project_id": None, "template_id": None,
            "base_template_id": None, "deployment_id": None}


def builtin_tool(spec: ToolSpec) -> dict[str, Any]:
    return {"id": builtin_tool_id(spec.name), "name": spec.name, "description": spec.description,
            "json_schema": {"name": spec.name, "description": spec.description, "parameters": spec.parameters},
            "tool_type": letta.tool_type(spec.name),
            "source_type": "python", "source_code": None, "tags": [], "return_char_limit": 50_000,
            "default_requires_approval": False}


def custom_tool(record: ToolRecord) -> dict[str, Any]:
    from memos.tools.multi_agent import MULTI_AGENT_TOOLS, SOURCE_TYPE

    if record.source_type == SOURCE_TYPE and record.name in MULTI_AGENT_TOOLS:  # Letta's, given to this agent
        return builtin_tool(MULTI_AGENT_TOOLS[record.name])
    if record.source_type == "mcp":  # an MCP server's tool attached to an agent: its address is its source
        server, tool = record.source_code.removeprefix("mcp:").split("/", 1) if record.source_code else ("", "")
        return mcp_tool(record.id, record.name, record.json_schema, server, tool, record.return_char_limit)
    return {"id": record.id, "name": record.name, "description": record.description,
            "json_schema": record.json_schema, "tool_type": "custom", "source_type": "python",
            "source_code": record.source_code, "tags": list(record.tags),
            "return_char_limit": record.return_char_limit or TOOL_RETURN_LIMIT,
            "metadata_": {"repo_commit": record.repo_commit, "library": record.source_type == "python"},
            "default_requires_approval": record.requires_approval}


def mcp_tool(tool_id: str, name: str, json_schema: dict[str, Any], server: str, tool: str,
             return_char_limit: int | None = None) -> dict[str, Any]:
    """An MCP server's tool as Letta shows one (listed by its server, or attached to an agent)."""
    return {"id": tool_id, "name": name, "description": json_schema.get("description", ""),
            "json_schema": json_schema, "tool_type": "external_mcp", "source_type": "python", "source_code": None,
            "tags": [f"mcp:{server}"], "return_char_limit": return_char_limit or TOOL_RETURN_LIMIT,
            "metadata_": {"mcp": {"server_name": server, "tool_name": tool}}, "default_requires_approval": False}


def passage(p: Passage, embedding_model: str) -> dict[str, Any]:
    shared = ids.looks_like("archive", p.agent_id)  # an archive's passage (shared by agents), not an agent's own
    return {"id": p.id, "text": p.text, "tags": p.tags, "created_at": iso(p.created_at),
            "updated_at": iso(p.created_at), "agent_id": None if shared else p.agent_id,
            "archive_id": p.agent_id if shared else None, "embedding": None,
            "embedding_config": embedding_config(embedding_model), "metadata": {}, "is_deleted": False}


# -- messages --------------------------------------------------------------------------
def _base(message_id: str, date: str | None, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "date": date, "message_type": kind, **extra}


def internal_message(m: Message) -> dict[str, Any]:
    """A stored message in Letta's own (not its API's per-kind) Message form."""
    return {"id": m.id, "role": m.role, "content": [{"type": "text", "text": m.content}], "agent_id": m.agent_id,
            "name": m.name, "tool_calls": letta.message_tool_calls(m.tool_calls) if m.tool_calls else None,
            "tool_call_id": m.tool_call_id, "step_id": m.step_id, "run_id": m.run_id, "otid": m.otid,
            "conversation_id": m.conversation_id, "created_at": iso(m.created_at)}


def otid_for(message_id: str, index: int) -> str:
    """Letta's otid of the ``index``-th Letta message made from one stored message: the message's
    UUID with its last 7 bits replaced by the index (Message.generate_otid_from_id in Letta
    0.16.8). Clients use it to tell a turn's messages apart and put streamed pieces together;
    Letta's own tests check the numbering (reasoning 0, then the reply or tool call 1...)."""
    digits = message_id.removeprefix("message-").replace("-", "")
    try:
        number = int(digits, 16)
    except ValueError:  # not a UUID (memos's ids are): derive one from the text, stably
        number = int(uuid.uuid5(uuid.NAMESPACE_URL, message_id).hex, 16)
    number = (number & ~0x7F) | (index & 0x7F)
    text = f"{number:032x}"[-32:]
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _assistant_text(arguments: Any) -> str:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        return str(parsed.get("message", ""))
    except (json.JSONDecodeError, AttributeError):
        return str(arguments)


def system_message_id(agent: Agent, conversation: Conversation | None = None) -> str:
    """The system message has no row (memos compiles it for each step); a stable id per agent,
    and per conversation, keeps clients' cursors valid."""
    owner = conversation.id if conversation is not None else agent.id
    return f"message-{uuid.uuid5(uuid.NAMESPACE_URL, 'memos:system:' + owner)}"


def system_message(agent: Agent, content: str, conversation: Conversation | None = None) -> dict[str, Any]:
    """The system prompt and memory as the model last read them: the first message of Letta's log."""
    since = conversation.created_at if conversation is not None else agent.created_at
    return _base(system_message_id(agent, conversation), iso(since), "system_message", content=content,
                 run_id=None, step_id=None)


def folder(f: Folder) -> dict[str, Any]:
    """Letta's Folder (a "source" in an agent's state)."""
    return {"id": f.id, "name": f.name, "description": f.description, "instructions": f.instructions,
            "metadata": f.metadata, "embedding_config": letta.embedding_config_for(f.embedding_model),
            "vector_db_provider": "native", "created_at": iso(f.created_at), "updated_at": iso(f.updated_at),
            "created_by_id": None, "last_updated_by_id": None}


def conversation(c: Conversation, agent: Agent, in_context_ids: list[str]) -> dict[str, Any]:
    """Letta's Conversation; its in-context messages start with its system message, as Letta's do."""
    return {"id": c.id, "agent_id": c.agent_id, "summary": c.summary, "model": c.model, "model_settings": None,
            "in_context_message_ids": [system_message_id(agent, c), *in_context_ids], "isolated_block_ids": [],
            "last_message_at": iso(c.last_message_at), "created_at": iso(c.created_at),
            "updated_at": iso(c.updated_at), "created_by_id": None, "last_updated_by_id": None,
            "name": c.name}  # memos's handle for it (memos chat --conversation NAME); Letta has none


def stored_messages(messages: Iterable[Message], pending_call_ids: set[str],
                    decisions: Mapping[str, Sequence[ToolCallRecord]] | None = None) -> list[dict[str, Any]]:
    """Stored messages as Letta messages: one stored assistant message becomes reasoning,
    assistant and tool-call messages that share its id, as in Letta, numbered by their otids.
    ``decisions``: the calls settled together in one request, by the first one's tool_call_id;
    that call's result is preceded by the request's approval_response_message, as Letta lists it."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool" and decisions and m.tool_call_id and m.tool_call_id in decisions:
            out.append(approval_response(m, decisions[m.tool_call_id]))
        date, extra = iso(m.created_at), {"run_id": m.run_id, "step_id": m.step_id, "seq_id": m.seq}
        made: list[dict[str, Any]] = []
        if m.role == "user":
            made.append(_base(m.id, date, "user_message", content=m.content, **extra))
        elif m.role == "system":
            if m.name == SUMMARY_NAME:
                made.append(_base(m.id, date, "summary_message", summary=m.content, **extra))
            else:
                made.append(_base(m.id, date, "system_message", content=m.content, **extra))
        elif m.role == "assistant":
            if m.content:
                kind = "reasoning_message" if m.tool_calls else "assistant_message"
                field = "reasoning" if m.tool_calls else "content"
                made.append(_base(m.id, date, kind, **{field: m.content}, **extra))
            calls = []
            for call in m.tool_calls or []:
                if call["name"] == ASSISTANT_TOOL:
                    made.append(_base(m.id, date, "assistant_message", content=_assistant_text(call["arguments"]),
                                      **extra))
                    continue
                kind = "approval_request_message" if call["id"] in pending_call_ids else "tool_call_message"
                calls.append((kind, {"name": call["name"], "arguments": _arguments_text(call["arguments"]),
                                     "tool_call_id": call["id"]}))
            made += [_calls_message(m.id, date, kind, grouped, **extra) for kind, grouped in _by_kind(calls).items()]
        elif m.role == "tool" and m.name != ASSISTANT_TOOL:
            status = "error" if m.content.startswith("Error") else "success"
            made.append(_tool_return(m.id, date, m.content, status, m.tool_call_id or "", m.name, **extra))
        for index, shaped_message in enumerate(made):
            # the client's own otid for what it sent; Letta's numbering for the rest
            shaped_message["otid"] = m.otid if m.role == "user" and m.otid else otid_for(m.id, index)
        out.extend(made)
    return out


def approval_response(first_result: Message, settled: Sequence[ToolCallRecord]) -> dict[str, Any]:
    """Letta's approval_response_message for calls settled in one request: listed just before the
    first one's result, under an id made from that result's (memos stores the decisions on the
    calls, not as a message of their own)."""
    made_id = f"message-{uuid.uuid5(uuid.NAMESPACE_URL, first_result.id + '/approval')}"
    approvals: list[dict[str, Any]] = [
        {"type": "tool", "tool_call_id": c.tool_call_id, "tool_return": c.result or "",
         "status": "error" if c.status == "error" else "success"} if c.decision == "return" else
        {"type": "approval", "tool_call_id": c.tool_call_id, "approve": c.decision == "approve",
         "reason": c.decision_reason}
        for c in settled]
    first = settled[0]
    return _base(made_id, iso(first_result.created_at), "approval_response_message",
                 approval_request_id=first.tool_call_id, approve=first.decision != "deny",
                 reason=first.decision_reason, approvals=approvals, otid=otid_for(made_id, 0),
                 run_id=first_result.run_id, step_id=first_result.step_id, seq_id=first_result.seq)


def _by_kind(calls: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """One LLM response's calls by the message they go out in, each in the model's order: the tool
    calls, then the approval request last (Letta's order: a client reads the request it must
    answer from the end of the response)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for kind, call in calls:
        grouped.setdefault(kind, []).append(call)
    return dict(sorted(grouped.items(), key=lambda item: item[0] == "approval_request_message"))


def _calls_message(message_id: str, date: str | None, kind: str, calls: list[dict[str, Any]],
                   **extra: Any) -> dict[str, Any]:
    """One message for the calls of one LLM response, as Letta's v1 agent sends parallel calls:
    ``tool_calls`` holds them all, ``tool_call`` the first (its older, single-call field)."""
    return _base(message_id, date, kind, tool_call=calls[0], tool_calls=calls, **extra)


def _tool_return(message_id: str, date: str | None, result: str, status: str, tool_call_id: str, name: str | None,
                 **extra: Any) -> dict[str, Any]:
    """A tool's result; ``tool_returns`` as Letta's v1 agent lists them."""
    returned = {"type": "tool", "tool_call_id": tool_call_id, "status": status, "tool_return": result,
                "stdout": None, "stderr": None}
    return _base(message_id, date, "tool_return_message", tool_return=result, status=status,
                 tool_call_id=tool_call_id, name=name, tool_returns=[returned], **extra)


class EventShaper:
    """Loop events to Letta streaming messages, keeping the usage totals for the end of the turn.

    With ``stream_tokens`` (Letta's token streaming) assistant text and tool-call arguments go out
    as deltas while the LLM writes them, each delta a message that repeats its message's id; the
    whole message is then not sent again. send_message's reply streams as assistant_message
    deltas of the decoded text, as in Letta."""

    def __init__(self, stream_tokens: bool = False, only: Iterable[str] | None = None) -> None:
        self.only = set(only) if only is not None else None  # include_return_message_types
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.steps = 0
        self.run_ids: list[str] = []
        self.stream_tokens = stream_tokens
        self._delta_ids: dict[str, str] = {}  # a streamed call's id (or "text") -> its message id
        self._arguments: dict[str, str] = {}  # a streamed call's arguments so far
        self._replies: dict[str, str] = {}  # a streamed send_message's text so far
        self._text = ""  # the step's streamed content so far
        self._reasoning = ""  # the step's streamed reasoning so far
        self.step_id: str | None = None  # the step under way: its messages name it
        # Letta numbers the messages made from one step's LLM output (reasoning, reply, tool calls)
        # by otid; a tool return is a message of its own (index 0)
        self._step_message = f"message-{uuid.uuid4()}"
        self._step_index = 0
        self._delta_otids: dict[str, str] = {}  # a streamed message's key -> its otid
        self._calls: dict[str, tuple[str, dict[str, Any]]] = {}  # the step's tool calls, gathering

    def shape(self, event: Any) -> list[dict[str, Any]]:
        """The Letta messages an event makes: none while a step's tool calls gather (they go out
        as one message, before whatever the step does next), else its own, after those."""
        if isinstance(event, (ev.ToolCall, ev.ApprovalRequest)) and not (
                self.stream_tokens and self._already_streamed(event)) and event.name != ASSISTANT_TOOL:
            call = {"name": event.name, "arguments": _arguments_text(event.arguments),
                    "tool_call_id": event.tool_call_id}
            kind = "approval_request_message" if isinstance(event, ev.ApprovalRequest) else "tool_call_message"
            self._calls[event.tool_call_id] = (kind, call)  # an approval request replaces its call
            return []
        return self._sent([*self._gathered(), self._shape(event)])

    def flush(self) -> list[dict[str, Any]]:
        """The step's gathered tool calls as messages, as ``shape`` sends them; call at the end of a stream."""
        return self._sent(self._gathered())

    def _gathered(self) -> list[dict[str, Any]]:
        """The step's gathered tool calls as messages (one per kind), and none gathered any more."""
        grouped = _by_kind(self._calls.values())
        self._calls.clear()
        return [_calls_message(self._step_message, now_iso(), kind, calls, otid=self._next_otid())
                for kind, calls in grouped.items()]

    def _sent(self, shaped: Sequence[dict[str, Any] | None]) -> list[dict[str, Any]]:
        """What goes to the client: the message types it asked for (stop reason and usage always
        go), each naming the run and step that made it."""
        out = []
        for message in shaped:
            if message is None:
                continue
            if "id" in message:
                if self.only is not None and message["message_type"] not in self.only:
                    continue
                if self.run_ids:
                    message.setdefault("run_id", self.run_ids[-1])
                if self.step_id:
                    message.setdefault("step_id", self.step_id)
            out.append(message)
        return out

    def _delta_id(self, key: str) -> str:
        # Every piece of the step's answer is listed later under the one stored message it became.
        return self._delta_ids.setdefault(key, self._step_message)

    def _next_otid(self) -> str:
        """The otid of the step's next message."""
        otid = otid_for(self._step_message, self._step_index)
        self._step_index += 1
        return otid

    def _delta_otid(self, key: str) -> str:
        """One otid for every delta of one streamed message."""
        if key not in self._delta_otids:
            self._delta_otids[key] = self._next_otid()
        return self._delta_otids[key]

    def _token(self, event: Any) -> dict[str, Any] | None:
        """A delta as a Letta message (token streaming only)."""
        if isinstance(event, ev.ReasoningDelta):
            self._reasoning += event.text
            return _base(self._delta_id("reasoning"), now_iso(), "reasoning_message", reasoning=event.text,
                         source="reasoner_model", otid=self._delta_otid("reasoning"))
        if isinstance(event, ev.AssistantDelta):
            self._text += event.text
            return _base(self._delta_id("text"), now_iso(), "assistant_message", content=event.text,
                         otid=self._delta_otid("text"))
        call_id = event.tool_call_id or f"index-{event.index}"
        self._arguments[call_id] = self._arguments.get(call_id, "") + event.arguments
        if event.name == ASSISTANT_TOOL:
            text = partial_string_field(self._arguments[call_id], "message")
            piece, self._replies[call_id] = text[len(self._replies.get(call_id, "")):], text
            return _base(self._delta_id(call_id), now_iso(), "assistant_message", content=piece,
                         otid=self._delta_otid(call_id)) if piece else None
        call = {"name": event.name, "arguments": event.arguments, "tool_call_id": event.tool_call_id}
        return _base(self._delta_id(call_id), now_iso(), "tool_call_message", tool_call=call, tool_calls=[call],
                     otid=self._delta_otid(call_id))

    def _already_streamed(self, event: Any) -> bool:
        """A whole message whose deltas went out already (token streaming)."""
        if isinstance(event, ev.ToolCall):
            return event.tool_call_id in self._arguments
        if isinstance(event, ev.Reasoning) and self._reasoning and event.text == self._reasoning:
            self._reasoning = ""
            self._delta_ids.pop("reasoning", None)
            return True
        if isinstance(event, ev.Reasoning) and self._text and event.text == self._text:
            # The step's text went out token by token before its tool calls made it the step's
            # reasoning (it is listed so later): not sent a second time.
            self._text = ""
            return True
        if isinstance(event, ev.Assistant):
            if self._text and event.text == self._text:
                self._text = ""
                self._delta_ids.pop("text", None)
                return True
            for call_id, text in list(self._replies.items()):
                if text == event.text:
                    del self._replies[call_id]
                    return True
        return False

    def _shape(self, event: Any) -> dict[str, Any] | None:
        if isinstance(event, (ev.ReasoningDelta, ev.AssistantDelta, ev.ToolCallDelta)):
            return self._token(event) if self.stream_tokens else None
        if self.stream_tokens and self._already_streamed(event):
            return None
        date = now_iso()
        new_id = f"message-{uuid.uuid4()}"
        if isinstance(event, ev.Reasoning):
            return _base(self._step_message, date, "reasoning_message", reasoning=event.text,
                         source="reasoner_model", otid=self._next_otid())
        if isinstance(event, ev.Assistant):
            return _base(event.message_id or new_id, date, "assistant_message", content=event.text,
                         otid=self._next_otid())
        if isinstance(event, (ev.ToolCall, ev.ApprovalRequest)):
            return None  # send_message's (its text arrives as the assistant message), or streamed already
        if isinstance(event, ev.ToolReturn):
            if event.name == ASSISTANT_TOOL and event.status == "success":
                return None
            returned = event.message_id or new_id
            return _tool_return(returned, date, event.result or "", event.status, event.tool_call_id, event.name,
                                otid=otid_for(returned, 0))
        if isinstance(event, ev.Summary):
            return _base(new_id, date, "summary_message", summary=event.text, otid=otid_for(new_id, 0))
        if isinstance(event, ev.Usage):
            self.steps += 1
            self.prompt_tokens += event.prompt_tokens
            self.completion_tokens += event.completion_tokens
            return None
        if isinstance(event, ev.RunStarted):
            self.run_ids.append(event.run_id)
            return None
        if isinstance(event, ev.StepStarted):
            self.step_id = event.step_id
            self._step_message, self._step_index = event.message_id or f"message-{uuid.uuid4()}", 0
            self._delta_ids.clear()
            self._delta_otids.clear()
            return None
        if isinstance(event, ev.Stop):
            if not self.run_ids or self.run_ids[-1] != event.run_id:
                self.run_ids.append(event.run_id)
            return {"message_type": "stop_reason", "stop_reason": event.reason}
        if isinstance(event, ev.Error):
            return {"message_type": "error_message", "error_type": "llm_error", "message": event.message,
                    "run_id": self.run_ids[-1] if self.run_ids else ""}
        return None  # deltas, memory edits (seen as tool calls) and warnings have no Letta message

    def usage(self) -> dict[str, Any]:
        return {"message_type": "usage_statistics", "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens, "step_count": self.steps,
                # Letta's: the background runs the turn started (a sleep-time agent's review), not
                # its own (each message names that one); None when it started none.
                "run_ids": self.run_ids[1:] or None}
