"""Letta's /v1/chat/completions: an agent behind OpenAI's chat API, so any OpenAI client or chat
UI can talk to it. ``model`` names the agent; it keeps the conversation itself, so only the last
user message of the request is sent (as Letta does). Unlike Letta 0.16.8, which streams only,
a request without ``stream`` gets one ``chat.completion``."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from memos.errors import InvalidInput, MemosError, ProviderError
from memos.server import shapes
from memos.server.deps import WS, TurnService
from memos.server.routes.messages import collect_turn, start_turn
from memos.server.schemas import ChatCompletionRequest, MessageIn, MessageRequest
from memos.server.sse import on_own_thread
from memos.store.base import Agent

router = APIRouter(prefix="/v1", tags=["chat"])
FINISH = {"end_turn": "stop", "max_tokens_exceeded": "length"}  # anything else ends as "stop" too


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role", "user") == "user":
            content = message.get("content")
            if isinstance(content, list):  # OpenAI's content parts: the text ones
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            if isinstance(content, str) and content.strip():
                return content
    raise InvalidInput("the request has no user message with text",
                       "end messages with {\"role\": \"user\", \"content\": \"...\"}: the agent keeps the rest")


@router.post("/chat/completions", response_model=None)
def create_chat_completion(ws: WS, turns: TurnService, body: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
    """A turn of the agent that ``model`` names, answered as OpenAI answers a chat completion."""
    agent = ws.store.get_agent(body.model)
    request = MessageRequest(messages=[MessageIn(role="user", content=_last_user_text(body.messages))],
                             streaming=body.stream, stream_tokens=body.stream)
    events, first = start_turn(turns, agent, request)
    created = int(time.time())
    if body.stream:
        shaper = shapes.EventShaper(stream_tokens=True, only=["assistant_message", "stop_reason"])
        return StreamingResponse(on_own_thread(_chunks(agent, _shaped(first, events, shaper), created)),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    # The turn as the messages route answers it (a provider's failure is its HTTP error too)
    turn = collect_turn(itertools.chain([first], events), ["assistant_message"])
    usage = turn["usage"]
    # Named by the turn's run (each message names it; usage.run_ids are only runs it started)
    run_id = next((m["run_id"] for m in turn["messages"] if m.get("run_id")), None) or f"{uuid.uuid4()}"
    return JSONResponse({
        "id": f"chatcmpl-{run_id}", "object": "chat.completion",
        "created": created, "model": agent.id,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "\n\n".join(
            m["content"] for m in turn["messages"] if m["message_type"] == "assistant_message")},
                     "finish_reason": FINISH.get(turn["stop_reason"]["stop_reason"], "stop"), "logprobs": None}],
        "usage": {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}})


def _shaped(first: Any, events: Iterator[Any], shaper: shapes.EventShaper) -> Iterator[dict[str, Any]]:
    """The turn as Letta messages: its replies (token by token when streamed) and stop reason."""
    try:
        yield from shaper.shape(first)
        for event in events:
            yield from shaper.shape(event)
    except ProviderError:
        pass  # the loop has yielded its error and stop reason already
    yield from shaper.flush()


def _chunks(agent: Agent, items: Iterator[dict[str, Any]], created: int) -> Iterator[str]:
    """OpenAI's chat.completion.chunk events: the role, the reply's pieces, the finish, [DONE]."""
    base = {"object": "chat.completion.chunk", "created": created, "model": agent.id}
    chunk_id = f"chatcmpl-{created}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return "data: " + json.dumps({**base, "id": chunk_id, "choices": [
            {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}, ensure_ascii=False) + "\n\n"

    def error(message: str, kind: str) -> str:  # the stream has begun: said in it, as OpenAI does
        return "data: " + json.dumps({"error": {"message": message, "type": kind}}, ensure_ascii=False) + "\n\n"

    yield chunk({"role": "assistant", "content": ""})
    stop = "end_turn"
    try:
        for item in items:
            if item["message_type"] == "assistant_message" and item.get("content"):
                yield chunk({"content": item["content"]})
            elif item["message_type"] == "error_message":  # the model's provider failed
                yield error(item["message"], "ProviderError")
            elif item["message_type"] == "stop_reason":
                stop = item["stop_reason"]
    except MemosError as exc:
        yield error(str(exc), type(exc).__name__)
    yield chunk({}, FINISH.get(stop, "stop"))
    yield "data: [DONE]\n\n"
