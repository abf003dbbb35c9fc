"""Messages: send (whole reply or SSE stream), list with cursors, cancel a running turn."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from memos.core.decisions import CallDecision
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, MemosError, NotFound, ProviderError
from memos.server import shapes
from memos.server.deps import WS, AgentDep, AgentId, CallStates, TurnService
from memos.server.schemas import CancelRequest, ConversationMessageRequest, MessageIn, MessageRequest
from memos.server.sse import on_own_thread
from memos.server.turns import TURN_WAIT, TurnKind, TurnRequest
from memos.store.base import ALL_CONVERSATIONS, Agent, Conversation, ConversationScope, Message

router = APIRouter(prefix="/v1/agents/{agent_id}/messages", tags=["messages"])


def _text_of(message: MessageIn) -> str:
    content = message.content
    return content if isinstance(content, str) else "".join(p.text for p in content or [])


def turn_request(body: MessageRequest) -> TurnRequest:
    """What the body asks for: a user message, or an approval decision on the waiting tool call."""

    client_tools = tuple(t.model_dump(exclude_none=True) for t in body.client_tools or [])

    def request(kind: TurnKind, text: str, system: tuple[str, ...] = (), call_ids: tuple[str, ...] = (),
                otid: str | None = None, follow_up: str = "",
                decisions: tuple[tuple[str, CallDecision], ...] = ()) -> TurnRequest:
        return TurnRequest(kind, text, max_steps=body.max_steps, model=body.override_model, system=system,
                           call_ids=call_ids, client_tools=client_tools, otid=otid, decisions=decisions,
                           system_prompt=body.override_system, follow_up=follow_up,
                           client_skills=tuple(s.model_dump(exclude_none=True) for s in body.client_skills or []),
                           wait=wait)

    # Letta's conversation routes answer a message to a busy conversation with 409 at once (its
    # CONVERSATION_BUSY); its agent route queues it. memos's agent route waits TURN_WAIT, then 409.
    wait = 0.0 if isinstance(body, ConversationMessageRequest) else TURN_WAIT

    if body.input is not None and body.messages:
        raise InvalidInput("give either 'input' or 'messages', not both")
    if body.input is not None:
        return request("send", body.input)
    if not body.messages:
        raise InvalidInput("the request has no messages", "send {\"messages\": [{\"role\": \"user\", \"content\": ...}]}")
    approvals = [m for m in body.messages if m.type == "approval"]
    if approvals:
        others = [m for m in body.messages if m.type != "approval"]
        if len(approvals) > 1 or any(m.role not in (None, "user") for m in others):
            raise InvalidInput("a request holds one approval, and besides it only user messages",
                               "send other messages in a request of their own")
        follow_up = "\n\n".join(_text_of(m) for m in others)
        decision = approvals[0]
        supplied = [a for a in decision.approvals or [] if a.get("type") == "tool"]
        verdicts = {bool(a.get("approve")) for a in decision.approvals or [] if a.get("type") != "tool"}
        if supplied or len(verdicts) > 1:
            # Per call: the client's results for the calls it ran (client-side tools), or Letta's
            # per-call form with different answers (approve one, deny another, a result for a third)
            return request("decide", "", decisions=_per_call(decision.approvals or []), follow_up=follow_up)
        approve, reason = decision.approve, decision.reason
        ids: list[str] = []
        if decision.approvals:  # the newer per-call form; memos decides all waiting calls together
            approve = all(bool(a.get("approve")) for a in decision.approvals)
            reason = next((a.get("reason") for a in decision.approvals if a.get("reason")), reason)
            ids = [str(a["tool_call_id"]) for a in decision.approvals if a.get("tool_call_id")]
        if approve is None:
            raise InvalidInput("the approval says neither approve: true nor approve: false")
        return request("approve" if approve else "deny", reason or "", call_ids=tuple(ids), follow_up=follow_up)
    texts: list[str] = []
    notes: list[str] = []
    for message in body.messages:
        if message.role not in (None, "user", "system"):
            raise InvalidInput(f"memos takes user and system messages here, not '{message.role}'",
                               "send what the user says as role user")
        (notes if message.role == "system" else texts).append(_text_of(message))
    otids = [m.otid for m in body.messages if m.role != "system" and m.otid]
    return request("send", "\n\n".join(texts), system=tuple(notes), otid=otids[-1] if otids else None)


def _per_call(items: list[dict[str, Any]]) -> tuple[tuple[str, CallDecision], ...]:
    """Letta's per-call approvals as one decision per tool call id."""
    decided: dict[str, CallDecision] = {}
    for item in items:
        call_id = item.get("tool_call_id")
        if not call_id:
            raise InvalidInput("a tool return needs the tool_call_id it answers" if item.get("type") == "tool"
                               else "each approval names the tool_call_id it decides")
        if item.get("type") == "tool":
            value = item.get("tool_return")
            decided[str(call_id)] = CallDecision("return", value if isinstance(value, str) else json.dumps(value),
                                                 str(item.get("status") or "success"))
        elif item.get("approve") is None:
            raise InvalidInput(f"the approval of {call_id} says neither approve: true nor approve: false")
        else:
            decided[str(call_id)] = CallDecision("approve") if item["approve"] else CallDecision(
                "deny", str(item.get("reason") or ""))
    return tuple(decided.items())


def collect_turn(events: Iterator[Any], only: list[str] | None = None) -> dict[str, Any]:
    shaper, messages, stop = shapes.EventShaper(only=only), [], "end_turn"
    for shaped in itertools.chain.from_iterable(map(shaper.shape, events)):
        if shaped["message_type"] == "stop_reason":
            stop = shaped["stop_reason"]
        elif shaped["message_type"] != "error_message":
            messages.append(shaped)
    messages += shaper.flush()
    return {"messages": messages, "stop_reason": {"message_type": "stop_reason", "stop_reason": stop},
            "usage": shaper.usage()}


def _sse(events: Iterator[Any], first: Any, stream_tokens: bool = False,
         only: list[str] | None = None, pings: bool = False) -> Iterator[str]:
    """Bare `data:` lines (letta-client drops events with an `event:` line), then [DONE]; with
    ``pings``, a ping first, as Letta opens its streams."""
    shaper = shapes.EventShaper(stream_tokens, only)

    def line(item: dict[str, Any]) -> str:
        return f"data: {json.dumps(item, ensure_ascii=False)}\n\n"

    if pings:
        yield line({"id": f"message-{uuid.uuid4()}", "date": shapes.now_iso(), "message_type": "ping"})
    pending = [first]
    try:
        while True:
            for event in pending:
                yield from map(line, shaper.shape(event))
            pending = [next(events)]
    except StopIteration:
        pass
    except ProviderError:
        pass  # the loop already yielded an error message and a stop reason for it
    except MemosError as exc:
        yield line({"message_type": "error_message", "error_type": type(exc).__name__, "message": str(exc),
                    "run_id": shaper.run_ids[-1] if shaper.run_ids else ""})
        yield line({"message_type": "stop_reason", "stop_reason": "error"})
    yield from map(line, shaper.flush())
    yield line(shaper.usage())
    yield "data: [DONE]\n\n"


def start_turn(turns: TurnService, agent: Any, body: MessageRequest,
           conversation: str | None = None) -> tuple[Iterator[Any], Any]:
    """Start the turn and take its first event here, so a refused request is an HTTP error
    rather than a stream that opens and fails."""
    events = turns.run(agent, replace(turn_request(body), conversation=conversation), threading.Event())
    try:
        first = next(events)
        while first.type == "waiting":  # a busy agent: wait here, so a timeout is a 409, not a broken stream
            first = next(events)
    except StopIteration:
        raise InvalidInput("the turn produced nothing") from None
    return events, first


def _event_stream(lines: Iterator[str] | AsyncIterator[str]) -> StreamingResponse:
    """Server-sent events that no cache or proxy holds back."""
    return StreamingResponse(lines, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _stream(turns: TurnService, agent: Any, body: MessageRequest, conversation: str | None = None) -> StreamingResponse:
    events, first = start_turn(turns, agent, body, conversation)
    return _event_stream(on_own_thread(_sse(events, first, body.stream_tokens, body.include_return_message_types,
                                            body.include_pings)))


def _stream_of_otid(turns: TurnService, agent: Agent, otid: str | None, pings: bool) -> StreamingResponse | None:
    """The background stream of the run that took the message sent with this otid, from its
    first chunk, while this server keeps it (running or done): Letta's recovery of a request sent
    again, which joins the run instead of sending the message twice. None when there is none."""
    from memos.core.agent import retry_of

    if not otid:
        return None
    kind, _, run = retry_of(turns.ws.store, agent.id, otid)
    chunks = turns.streams.follow(run.id, 0, pings) if kind == "taken" and run is not None else None
    if chunks is None:
        return None
    return _event_stream(chunks)


def _background_stream(turns: TurnService, agent: Agent, body: MessageRequest,
                       conversation: str | None) -> StreamingResponse:
    """Letta's background mode: the turn runs on a thread of its own and its chunks are kept
    (server/streams.py), so this client may leave and it, or another, may resume."""
    from memos.server.streams import RunStream

    joined = _stream_of_otid(turns, agent, turn_request(body).otid, bool(body.include_pings))
    if joined is not None:
        return joined
    events, first = start_turn(turns, agent, body, conversation)
    stream = RunStream(turns.streams.store)

    def watched(items: Iterator[Any]) -> Iterator[Any]:
        for event in items:
            if event.type == "run_started" and stream.run_id is None:
                turns.streams.name(stream, event.run_id)
            yield event

    if first.type == "run_started":
        turns.streams.name(stream, first.run_id)
    lines = _sse(watched(events), first, body.stream_tokens, body.include_return_message_types, body.include_pings)
    threading.Thread(target=stream.fill, args=(lines,), name="memos-background-stream", daemon=True).start()
    return _event_stream(stream.follow(0))


@router.post("", response_model=None)
def send_message(ws: WS, turns: TurnService, agent_id: AgentId, body: MessageRequest) -> JSONResponse | StreamingResponse:
    """Send a message and get the turn's messages, stop reason and usage (or an SSE stream with
    ``streaming: true``)."""
    return respond(turns, ws.store.get_agent(agent_id), body)


def respond(turns: TurnService, agent: Agent, body: MessageRequest,
            conversation: str | None = None) -> JSONResponse | StreamingResponse:
    """The turn a request asks for, in one of the agent's conversations (None: its own): an SSE
    stream with ``streaming``, else its messages, stop reason and usage."""
    if body.streaming and body.background:
        return _background_stream(turns, agent, body, conversation)
    if body.streaming:
        return _stream(turns, agent, body, conversation)
    events, first = start_turn(turns, agent, body, conversation)

    def everything() -> Iterator[Any]:
        yield first
        yield from events

    # Shaped as JSON already (the stream sends the same dicts): FastAPI's encoder walk is skipped.
    return JSONResponse(collect_turn(everything(), body.include_return_message_types))


@router.post("/stream", response_model=None)
def stream_message(ws: WS, turns: TurnService, agent_id: AgentId, body: MessageRequest) -> StreamingResponse:
    """Send a message and stream the turn as server-sent events in Letta's message shapes (with
    ``background``: a turn that goes on if the client leaves, resumable at /v1/runs/{id}/stream)."""
    agent = ws.store.get_agent(agent_id)
    if body.background:
        return _background_stream(turns, agent, body, None)
    return _stream(turns, agent, body)


@router.post("/async")
def send_message_async(ws: WS, turns: TurnService, agent: AgentDep, body: MessageRequest) -> dict[str, Any]:
    """Start the turn in the background and return its run at once; follow it at /v1/runs/{id}."""
    from memos.core.observe import run_summary
    from memos.server.routes.runs import run_shape

    run_id = turns.start_background(agent, turn_request(body))
    if body.include_return_message_types is not None:  # applied when the run's messages are read
        ws.store.set_run_request_config(run_id, {"include_return_message_types": body.include_return_message_types})
    return run_shape(run_summary(ws, run_id))


@router.post("/preview-raw-payload")
def preview_raw_payload(turns: TurnService, agent: AgentDep, body: MessageRequest) -> dict[str, Any]:
    """The request the turn's first step would send to the model (nothing is sent or stored)."""
    return preview(turns, agent, body, None)


def preview(turns: TurnService, agent: Agent, body: MessageRequest, conversation: str | None) -> dict[str, Any]:
    from memos.core.agent import runner_with_tools

    request = turn_request(body)
    if request.kind != "send":
        raise InvalidInput("a preview is of a message to send, not of an approval")
    where = turns.ws.store.get_conversation(conversation) if conversation else None
    with runner_with_tools(turns.ws, agent, model=request.model, client_tools=request.client_tools,
                           conversation=where) as runner:
        return runner.preview(request.text, request.system)


@router.post("/cancel")
def cancel(turns: TurnService, agent: AgentDep, body: CancelRequest | None = None) -> dict[str, Any]:
    """Stop the agent's running turns (or only the runs named in ``run_ids``) at their next safe
    point, whichever replica runs them; what they produced is kept."""
    count = turns.cancel(agent.id, run_ids=tuple(body.run_ids) if body and body.run_ids else None)
    return {"agent_id": agent.id, "cancelled": count}


@router.get("")
def list_messages(ws: WS, agent: AgentDep, before: str | None = None, after: str | None = None,
                  limit: int = Query(100, ge=1, le=1000), order: Literal["asc", "desc"] = "desc",
                  conversation_id: str | None = None) -> list[dict[str, Any]]:
    """A page of the message log in Letta's message types; cursors are message ids.
    ``conversation_id``: only that conversation's messages ("default": the agent's own); without
    it, every conversation's, as in Letta."""
    scope: ConversationScope = ALL_CONVERSATIONS
    conversation = None
    if conversation_id == "default":
        scope = None
    elif conversation_id is not None:
        conversation = ws.store.get_conversation(conversation_id)
        if conversation.agent_id != agent.id:
            raise NotFound(f"agent '{agent.name}' has no conversation '{conversation_id}'")
        scope = conversation.id
    return message_log(ws, agent, scope, conversation, before, after, limit, order)


def message_log(ws: Workspace, agent: Agent, scope: ConversationScope, conversation: Conversation | None,
                before: str | None, after: str | None, limit: int, order: Literal["asc", "desc"],
                newest_first: bool = False) -> list[dict[str, Any]]:
    """A page of a message log (one conversation's, or all of the agent's), as Letta 0.16.8 pages.

    The cursors are chronological whatever the order: ``after`` means newer than that message,
    ``before`` older. ``asc`` takes the oldest ``limit`` messages between them, ``desc`` the
    newest, and both pages list oldest first (Letta reverses a newest-first page before it
    answers; so `after` the last item of such a page is nothing). The log begins with the
    system message (the system prompt and memory as the model reads them now), which counts
    like any message. Stored messages without a Letta message (send_message's return) do not
    count toward ``limit``; the Letta messages made from one stored message (reasoning, tool
    calls) share its id and stay on one page, so a page may end a little over ``limit``.
    ``newest_first``: a ``desc`` page listed newest first, as Letta's conversation routes answer."""
    head_id = shapes.system_message_id(agent, conversation)
    if before == head_id:
        return []  # nothing is older than the system message
    with_head = after is None  # the page may reach back to the start of the log
    newer_than = None if after == head_id else after
    if order == "asc":
        room = limit - 1 if with_head else limit
        groups, _ = _walk(ws, agent, scope, newer_than, before, room, "asc")
        head = [log_head(ws, agent, conversation)] if with_head else []
        return head + [item for group in groups for item in group]
    groups, reached_start = _walk(ws, agent, scope, before, newer_than, limit, "desc")
    count = sum(len(group) for group in groups)
    head = [log_head(ws, agent, conversation)] if with_head and reached_start and count < limit else []
    if newest_first:
        return [item for group in groups for item in group] + head
    return head + [item for group in reversed(groups) for item in group]


def log_head(ws: Workspace, agent: Agent, conversation: Conversation | None) -> dict[str, Any]:
    from memos.core.conversations import listed_system_message

    return shapes.system_message(agent, listed_system_message(ws.store, agent, conversation.id if conversation else None),
                                 conversation)


def _walk(ws: Workspace, agent: Agent, scope: ConversationScope, start: str | None, stop: str | None, limit: int,
          direction: Literal["asc", "desc"]) -> tuple[list[list[dict[str, Any]]], bool]:
    """Stored messages as Letta's, grouped by stored message, walking from just past ``start``
    (the log's first or last message without one) in ``direction`` until ``limit`` Letta
    messages, the ``stop`` message, or the end; and whether the walk reached the end."""
    calls = CallStates(ws, agent.id)
    return walk_letta(lambda cursor, batch: calls.seen(ws.store.list_messages(
                          agent.id, after=cursor, limit=batch, order=direction, conversation=scope)),
                      lambda message: calls.shape([message]), start, stop, limit)


def walk_letta(fetch: Callable[[str | None, int], list[Message]], shape: Callable[[Message], list[dict[str, Any]]],
               start: str | None, stop: str | None, limit: int) -> tuple[list[list[dict[str, Any]]], bool]:
    """Pages of stored messages (``fetch(cursor, batch)``, each after the last) shaped as Letta's,
    grouped by stored message, from just past ``start`` until ``limit`` Letta messages, the
    ``stop`` message, or the end; and whether the walk reached the end. Stored messages that
    make no Letta message (send_message's return) do not count."""
    if limit < 1:
        return [], False
    groups: list[list[dict[str, Any]]] = []
    count, batch, cursor = 0, max(limit, 20), start
    while True:
        stored = fetch(cursor, batch)
        for message in stored:
            if message.id == stop:
                return groups, False
            group = shape(message)
            if group:
                groups.append(group)
                count += len(group)
            if count >= limit:
                return groups, False
        if len(stored) < batch:
            return groups, True
        cursor = stored[-1].id
