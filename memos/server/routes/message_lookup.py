"""Letta's /v1/messages: every agent's messages, searched or paged, and one message by id,
whichever agent's log holds it."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from memos.core import recall
from memos.core.timeparse import iso_bound
from memos.errors import NotFound
from memos.server import shapes
from memos.server.deps import WS, CallStates
from memos.server.routes.messages import log_head, walk_letta
from memos.server.schemas import MessageSearch
from memos.store.base import ALL_CONVERSATIONS, Message

router = APIRouter(prefix="/v1/messages", tags=["messages"])
agents_router = APIRouter(prefix="/v1/agents", tags=["messages"])
SEARCHED_TYPES = {"system_message": "content", "user_message": "content", "reasoning_message": "reasoning",
                  "assistant_message": "content"}  # what Letta's search answers, and the field of its text


class _LettaShaper:
    """Stored messages of any agents as Letta messages naming their agent and conversation, each
    agent's call states (waiting calls, decisions) read once per batch of messages, not per message."""

    def __init__(self, ws: WS) -> None:
        self.ws = ws
        self.calls: dict[str, CallStates] = {}

    def _of(self, agent_id: str) -> CallStates:
        if agent_id not in self.calls:
            self.calls[agent_id] = CallStates(self.ws, agent_id)
        return self.calls[agent_id]

    def seen(self, messages: list[Message]) -> list[Message]:
        for agent_id in dict.fromkeys(m.agent_id for m in messages):
            self._of(agent_id).seen([m for m in messages if m.agent_id == agent_id])
        return messages

    def __call__(self, message: Message) -> list[dict[str, Any]]:
        return [{**item, "agent_id": message.agent_id, "conversation_id": message.conversation_id}
                for item in self._of(message.agent_id).shape([message])]


@router.get("/")
def list_all_messages(ws: WS, after: str | None = None, before: str | None = None,
                      conversation_id: str | None = None, limit: int = Query(100, ge=1, le=1000),
                      order: Literal["asc", "desc"] = "desc",
                      include_return_message_types: list[str] | None = Query(None)) -> list[dict[str, Any]]:  # noqa: B008
    """Every agent's messages, newest first by default; ``after``/``before`` are message ids,
    relative to ``order`` as on an agent's own list. ``limit`` counts Letta messages: stored
    ones that make none (send_message's return) are passed over, and the Letta messages of one
    stored message stay on one page."""
    shape = _LettaShaper(ws)
    groups, _ = walk_letta(
        lambda cursor, batch: shape.seen(ws.store.list_all_messages(
            after=cursor, before=before, limit=batch, order=order, conversation=conversation_id or ALL_CONVERSATIONS)),
        lambda message: [m for m in shape(message)
                         if not include_return_message_types or m["message_type"] in include_return_message_types],
        after, None, limit)
    return [m for group in groups for m in group]


@router.post("/search")
def search_messages(ws: WS, body: MessageSearch) -> list[dict[str, Any]]:
    """Messages of every agent (or one: ``agent_id``) that match the words of ``query``, best
    first. Each log is searched by its words whatever ``search_mode`` says: messages carry no
    embeddings in memos (agents find them with conversation_search the same way)."""
    found = _search(ws, body)
    shape = _LettaShaper(ws)
    shape.seen([hit.message for hit in found])
    return [{"message_type": m["message_type"], "message_id": m["id"], "created_at": m["date"],
             "agent_id": m["agent_id"], "conversation_id": m["conversation_id"],
             SEARCHED_TYPES[m["message_type"]]: m[SEARCHED_TYPES[m["message_type"]]]}
            for m in (item for hit in found for item in shape(hit.message)) if m["message_type"] in SEARCHED_TYPES]


def _search(ws: WS, body: MessageSearch) -> list[recall.FoundMessage]:
    agents = [ws.store.get_agent(body.agent_id)] if body.agent_id else ws.store.list_agents()
    return recall.search_logs(ws.store, agents, body.query, start=iso_bound(body.start_date, "start_date"),
                              end=iso_bound(body.end_date, "end_date", end=True), roles=body.roles or (),
                              conversation=body.conversation_id, limit=body.limit)


@agents_router.post("/messages/search")
def search_messages_with_ranks(ws: WS, body: MessageSearch) -> list[dict[str, Any]]:
    """Letta's older search across agents: each hit as the stored message, with its rank in its
    own log's word search and the fused score (no vector rank: messages carry no embeddings)."""
    return [{"embedded_text": hit.message.content, "message": shapes.internal_message(hit.message),
             "fts_rank": hit.rank, "vector_rank": None, "rrf_score": hit.score} for hit in _search(ws, body)]


@router.get("/{message_id}")
def retrieve_message(ws: WS, message_id: str) -> list[dict[str, Any]]:
    """Every Letta message made from that stored message (reasoning, reply and tool calls share
    its id); a system message's id gives the prompt as its agent or conversation reads it now."""
    try:
        message = ws.store.get_message(message_id)
    except NotFound:
        return [_system_message(ws, message_id)]
    return CallStates(ws, message.agent_id).shape([message])


def _system_message(ws: WS, message_id: str) -> dict[str, Any]:
    """The system message with this id: memos keeps none (it compiles the prompt every step), so
    its id is derived from the agent or conversation (shapes.system_message_id); found by trying each."""
    agents = ws.store.list_agents()
    for agent in agents:
        if shapes.system_message_id(agent) == message_id:
            return log_head(ws, agent, None)
    for agent in agents:
        for conversation in ws.store.list_conversations(agent.id, limit=100_000):
            if shapes.system_message_id(agent, conversation) == message_id:
                return log_head(ws, agent, conversation)
    raise NotFound(f"message {message_id} not found", "list an agent's messages: GET /v1/agents/{id}/messages")
