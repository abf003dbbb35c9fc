"""Conversations (Letta's /v1/conversations): several threads of an agent sharing its memory.

Each conversation has its own messages, context and runs; memory blocks, archival memory and
tools are the agent's. As in Letta, a path's conversation id may be "default" (with the agent's
id in the query or body) for the agent's own conversation. Conversations of one agent run at
once; a message to a busy conversation is answered 409 at once, as Letta answers it.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from memos.core import conversations as core_conversations
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, NotFound, NothingRunning, NothingToDo
from memos.server import shapes
from memos.server.deps import WS, TurnService
from memos.server.routes.messages import message_log, respond
from memos.server.schemas import (
    CompactRequest,
    ConversationCreate,
    ConversationMessageRequest,
    ConversationUpdate,
    RecompileRequest,
    StreamResume,
)
from memos.store.base import Agent, Conversation

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
DEFAULT = "default"


def _target(ws: Workspace, conversation_id: str, agent_id: str | None) -> tuple[Agent, Conversation | None]:
    """The agent and conversation a path names: a conversation id, or "default" (or, as Letta
    still takes, an agent id) for the agent's own conversation."""
    if conversation_id == DEFAULT or conversation_id.startswith("agent-"):
        named = agent_id if conversation_id == DEFAULT else conversation_id
        if not named:
            raise InvalidInput("conversation 'default' needs the agent_id of the agent it belongs to")
        return ws.store.get_agent(named), None
    conversation = ws.store.get_conversation(conversation_id)
    return ws.store.get_agent(conversation.agent_id), conversation


def _id(conversation: Conversation | None) -> str | None:
    """The store's name for a conversation: its id, None for the agent's own."""
    return conversation.id if conversation else None


def _shape(ws: Workspace, conversation: Conversation, agent: Agent | None = None) -> dict[str, Any]:
    agent = agent or ws.store.get_agent(conversation.agent_id)
    in_context = ws.store.list_messages(agent.id, limit=100_000, order="asc", in_context=True,
                                        conversation=conversation.id)
    return shapes.conversation(conversation, agent, [m.id for m in in_context])


def _no_settings(model_settings: dict[str, Any] | None) -> None:
    if model_settings:
        raise InvalidInput("memos does not keep model settings per conversation",
                           "set the model's settings in config.toml; a conversation may name its own model")


@router.post("/")
def create_conversation(ws: WS, body: ConversationCreate | None = None,
                        agent_id: str = Query(description="The agent the conversation belongs to")) -> dict[str, Any]:
    body = body or ConversationCreate()
    if body.isolated_block_labels:
        raise InvalidInput("memos's conversations share all of the agent's memory blocks",
                           "leave out isolated_block_labels, or give the thread an agent of its own")
    _no_settings(body.model_settings)
    agent = ws.store.get_agent(agent_id)
    return _shape(ws, core_conversations.start_conversation(ws.store, agent, name=body.name, summary=body.summary,
                                                            model=body.model), agent)


@router.get("/")
def list_conversations(ws: WS, agent_id: str | None = None, limit: int = Query(50, ge=1, le=1000),
                       after: str | None = None, summary_search: str | None = None,
                       order: Literal["asc", "desc"] = "desc",
                       order_by: Literal["created_at", "last_message_at", "last_run_completion"] = "created_at",
                       ) -> list[dict[str, Any]]:
    agent = ws.store.get_agent(agent_id) if agent_id else None
    # A run ends in the turn its message started: the last run's completion orders as the last message.
    key: Literal["created_at", "last_message_at"] = "created_at" if order_by == "created_at" else "last_message_at"
    found = ws.store.list_conversations(agent.id if agent else None, limit=limit, after=after, order=order,
                                        order_by=key, summary_search=summary_search)
    return [_shape(ws, c, agent) for c in found]


@router.get("/{conversation_id}")
def retrieve_conversation(ws: WS, conversation_id: str) -> dict[str, Any]:
    return _shape(ws, ws.store.get_conversation(conversation_id))


@router.patch("/{conversation_id}")
def update_conversation(ws: WS, conversation_id: str, body: ConversationUpdate) -> dict[str, Any]:
    _no_settings(body.model_settings)
    return _shape(ws, ws.store.update_conversation(conversation_id, name=body.name, summary=body.summary,
                                                   model=body.model))


@router.delete("/{conversation_id}")
def delete_conversation(ws: WS, turns: TurnService, conversation_id: str) -> None:
    conversation = ws.store.get_conversation(conversation_id)
    turns.cancel(conversation.agent_id, conversation.id)
    ws.store.delete_conversation(conversation.id)


@router.get("/{conversation_id}/messages")
def list_conversation_messages(ws: WS, conversation_id: str, agent_id: str | None = None,
                               before: str | None = None, after: str | None = None,
                               limit: int = Query(100, ge=1, le=1000),
                               order: Literal["asc", "desc"] = "desc") -> list[dict[str, Any]]:
    agent, conversation = _target(ws, conversation_id, agent_id)
    return message_log(ws, agent, _id(conversation), conversation, before, after, limit, order, newest_first=True)


@router.post("/{conversation_id}/messages", response_model=None)
def send_conversation_message(ws: WS, turns: TurnService, conversation_id: str,
                              body: ConversationMessageRequest) -> JSONResponse | StreamingResponse:
    """A turn in the conversation: an SSE stream (Letta's default), or with ``streaming: false``
    the turn's messages, stop reason and usage."""
    agent, conversation = _target(ws, conversation_id, body.agent_id)
    return respond(turns, agent, body, _id(conversation))


@router.post("/{conversation_id}/cancel")
def cancel_conversation(ws: WS, turns: TurnService, conversation_id: str,
                        agent_id: str | None = None) -> dict[str, Any]:
    """Stop the conversation's running turns at their next safe point; {run id: "cancelled"}."""
    agent, conversation = _target(ws, conversation_id, agent_id)
    scope = _id(conversation)
    running = ws.store.running_runs(agent.id, conversation=scope)
    if not turns.cancel(agent.id, scope) or not running:
        raise NothingRunning(f"No active runs to cancel in conversation {conversation_id}")
    return {run_id: "cancelled" for run_id in running}


@router.post("/{conversation_id}/fork")
def fork_conversation(ws: WS, conversation_id: str, agent_id: str | None = None) -> dict[str, Any]:
    """A new conversation of the same agent starting from a copy of this one's context."""
    agent, conversation = _target(ws, conversation_id, agent_id)
    return _shape(ws, core_conversations.fork_conversation(ws.store, agent, _id(conversation)), agent)


@router.post("/{conversation_id}/compact")
def compact_conversation(ws: WS, turns: TurnService, conversation_id: str,
                         body: CompactRequest | None = None) -> dict[str, Any]:
    """Summarise the older part of the conversation's context now, between its turns."""
    agent, conversation = _target(ws, conversation_id, body.agent_id if body else None)
    return compact(turns, agent, _id(conversation), body)


def compact(turns: TurnService, agent: Agent, conversation: str | None, body: CompactRequest | None) -> dict[str, Any]:
    """Letta's CompactionResponse for summarising a conversation's older context now; with
    compaction_settings mode "all", all of it."""
    settings = (body.compaction_settings if body else None) or {}
    before, after, summary = turns.compact(agent, conversation, everything=settings.get("mode") == "all")
    if summary is None:
        raise NothingToDo("the conversation has too few messages in context to compact")
    # Letta counts the system message among the context's messages.
    return {"summary": summary, "num_messages_before": before + 1, "num_messages_after": after + 1}


@router.post("/{conversation_id}/recompile")
def recompile_conversation(ws: WS, conversation_id: str, agent_id: str | None = None,
                           dry_run: bool = False, body: RecompileRequest | None = None) -> str:
    """The conversation's system message compiled from memory now (prompt, blocks, its summary),
    which its log lists from now on (not with ``dry_run``). With conversation "default", the agent
    is named in the query or the body, as Letta takes it."""
    agent, conversation = _target(ws, conversation_id, agent_id or (body.agent_id if body else None))
    return core_conversations.recompile(ws.store, agent, _id(conversation), dry_run=dry_run)


@router.post("/{conversation_id}/stream", response_model=None)
def resume_conversation_stream(ws: WS, turns: TurnService, conversation_id: str, agent_id: str | None = None,
                               body: StreamResume | None = None) -> StreamingResponse:
    """Resume the stream of the conversation's newest running turn (one streamed with background:
    true), or with ``otid`` the stream of the run that took the message sent with it."""
    from memos.server.routes.runs import resume

    agent, conversation = _target(ws, conversation_id, agent_id or (body.agent_id if body else None))
    if body is not None and body.otid:
        sent = ws.store.message_by_otid(agent.id, body.otid)
        if sent is None or sent.run_id is None:
            raise NotFound(f"no message was sent with otid {body.otid}", "send it: POST .../messages")
        return resume(ws, turns, sent.run_id, body)
    running = ws.store.running_runs(agent.id, conversation=_id(conversation))  # oldest first
    if not running:
        raise NothingToDo(f"No active runs found for conversation {conversation_id}",
                          "a finished turn's messages are in GET .../messages")
    return resume(ws, turns, running[-1], body)


@router.post("/{conversation_id}/messages/preview-raw-payload")
def preview_conversation_payload(ws: WS, turns: TurnService, conversation_id: str,
                                 body: ConversationMessageRequest) -> dict[str, Any]:
    """The request a message to the conversation would send to the model first (nothing is sent or stored)."""
    from memos.server.routes.messages import preview

    agent, conversation = _target(ws, conversation_id, body.agent_id)
    return preview(turns, agent, body, _id(conversation))
