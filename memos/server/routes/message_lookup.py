"""Letta's /v1/messages/{message_id}: one message by id, whichever agent's log holds it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from memos.errors import NotFound
from memos.server import shapes
from memos.server.deps import WS, pending_call_ids
from memos.server.routes.messages import log_head

router = APIRouter(prefix="/v1/messages", tags=["messages"])


@router.get("/{message_id}")
def retrieve_message(ws: WS, message_id: str) -> list[dict[str, Any]]:
    """Every Letta message made from that stored message (reasoning, reply and tool calls share
    its id); a system message's id gives the prompt as its agent or conversation reads it now."""
    try:
        message = ws.store.get_message(message_id)
    except NotFound:
        return [_system_message(ws, message_id)]
    return shapes.stored_messages([message], pending_call_ids(ws, message.agent_id))


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
