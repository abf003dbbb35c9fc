"""LLM calls to OpenAI-compatible endpoints (OpenAI, Groq, Ollama, any base URL) over plain httpx.

This is the path a pipeline's `memos send` takes, so it costs what httpx costs to import
(~0.1 s), not litellm's ~3 s. It speaks the chat-completions API: JSON in, JSON or
server-sent events out (``data: {...}`` lines, then ``data: [DONE]``), with the usage
block OpenAI sends last when asked (``stream_options.include_usage``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from memos.core.completion import (
    OFFICIAL_BASES,
    Completion,
    StreamAssembler,
    ToolDelta,
    Transient,
    bad_key,
    cached_of,
    malformed_request,
    says_malformed,
    says_too_long,
    too_long,
    unknown_model,
)
from memos.errors import ProviderError

CONNECT_TIMEOUT = 10.0
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504, 529}
MAX_RETRY_AFTER = 60.0  # a provider asking for longer is answered with a failure, not a minute's hang

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One connection pool per process: a server or a chat reuses its connections."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(follow_redirects=True)
        return _client


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= MAX_RETRY_AFTER else None


def _error_text(response: httpx.Response) -> str:
    """The provider's own message ({"error": {"message": ...}} in OpenAI's shape), else the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or error)[:300]
    return str(error or body)[:300]


def refusal(model: str, response: httpx.Response) -> Exception:
    """A non-2xx answer as a Transient (retry) or a ProviderError (final)."""
    response.read()
    text = _error_text(response)
    status = response.status_code
    if says_too_long(text):  # llama.cpp and others answer 400 or 500: either way, make room
        return too_long(model, text)
    if status >= 500 and says_malformed(text):
        return malformed_request(model, status, text)
    if status in RETRY_STATUSES:
        return Transient(f"HTTP {status}: {text}", _retry_after(response))
    if status in (401, 403):
        return bad_key(model)
    if says_too_long(text):
        return too_long(model, text)
    if status == 404:
        return unknown_model(model)
    return ProviderError(f"the LLM call to {model} failed: HTTP {status}: {text}")


def call(model: str, wire_model: str, base_url: str, api_key: str | None, messages: list[dict[str, Any]],
         tools: list[dict[str, Any]] | None, on_text: Callable[[str], None] | None,
         cancel: threading.Event | None, stream: bool, timeout: float, on_tool: ToolDelta | None = None,
         *, max_tokens: int | None = None, response_format: dict[str, Any] | None = None,
         on_reasoning: Callable[[str], None] | None = None) -> Completion:
    body: dict[str, Any] = {"model": wire_model, "messages": messages}
    if response_format:
        body["response_format"] = response_format
    if tools:
        body["tools"] = tools
    if max_tokens:
        # OpenAI's own API takes max_completion_tokens (its reasoning models refuse max_tokens);
        # every other OpenAI-compatible server (llama.cpp, Ollama, vLLM, LM Studio) takes max_tokens.
        official = base_url.rstrip("/") == OFFICIAL_BASES["openai"]
        body["max_completion_tokens" if official else "max_tokens"] = max_tokens
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    request = client().build_request("POST", base_url.rstrip("/") + "/chat/completions", json=body,
                                     headers=headers, timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT))
    try:
        response = client().send(request, stream=True)
    except httpx.TransportError as exc:  # refused, reset, timed out: worth another try
        raise Transient(f"{type(exc).__name__}: {exc}") from None
    shown = False

    def relay(text: str) -> None:
        nonlocal shown
        shown = True
        if on_text:
            on_text(text)

    def relay_tool(index: int, call_id: str, name: str, piece: str) -> None:
        nonlocal shown
        shown = True
        if on_tool:
            on_tool(index, call_id, name, piece)

    def relay_reasoning(text: str) -> None:
        nonlocal shown
        shown = True
        if on_reasoning:
            on_reasoning(text)

    try:
        if response.status_code >= 400:
            raise refusal(model, response)
        if not stream:
            response.read()
            return _from_json(model, _json(response.text))
        return _from_events(model, _events(response), relay, cancel, relay_tool if on_tool else None,
                            relay_reasoning if on_reasoning else None)
    except (httpx.TransportError, Transient) as exc:  # the connection dropped, or the answer broke
        detail = exc.detail if isinstance(exc, Transient) else f"{type(exc).__name__}: {exc}"
        if shown:  # a retry would show the user the same words twice
            raise ProviderError(f"the answer from {model} broke off: {detail}", "send the message again") from None
        if isinstance(exc, Transient):
            raise
        raise Transient(detail) from None
    finally:
        response.close()


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise Transient(f"the provider's answer is not JSON: {text[:120]!r}") from None
    if not isinstance(data, dict):
        raise Transient(f"the provider's answer is not a JSON object: {text[:120]!r}")
    if isinstance(data.get("error"), dict):  # some servers report errors in a 200
        message = str(data["error"].get("message") or data["error"])
        raise Transient(message[:300])
    return data


def _events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, up to ``[DONE]``.

    A stream that ends without ``[DONE]`` and without a finish reason was cut off: the
    answer is not whole, and saying so beats keeping half a reply as if it were one."""
    finished = False
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # comments, event names, keep-alives
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        if payload:
            chunk = _json(payload)
            finished = finished or any(c.get("finish_reason") for c in chunk.get("choices") or [])
            yield chunk
    if not finished:
        raise Transient("the answer's stream ended before it was complete")


def _from_events(model: str, events: Iterator[dict[str, Any]], on_text: Callable[[str], None] | None,
                 cancel: threading.Event | None, on_tool: ToolDelta | None = None,
                 on_reasoning: Callable[[str], None] | None = None) -> Completion:
    assembler = StreamAssembler(model, on_tool, on_reasoning)
    try:
        for chunk in events:
            if cancel is not None and cancel.is_set():
                assembler.cancel()
                break
            usage = chunk.get("usage")
            if isinstance(usage, dict):
                assembler.usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), cached_of(usage))
            for choice in chunk.get("choices") or []:
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                text = assembler.text(delta.get("content"))
                if text and on_text:
                    on_text(text)
                assembler.reasoning(delta.get("reasoning_content") or delta.get("reasoning"))
                for piece in delta.get("tool_calls") or []:
                    function = piece.get("function") or {}
                    assembler.tool_call(piece.get("index"), piece.get("id"), function.get("name"),
                                        _arguments_text(function.get("arguments")))
                assembler.finish(choice.get("finish_reason"))
    except KeyboardInterrupt:
        assembler.cancel()
    return assembler.result()


def _arguments_text(arguments: Any) -> str | None:
    """Arguments as the model wrote them; a few servers send an object instead of JSON text."""
    if arguments is None or isinstance(arguments, str):
        return arguments
    return json.dumps(arguments)


def _from_json(model: str, data: dict[str, Any]) -> Completion:
    choices = data.get("choices") or []
    if not choices:
        raise Transient("the provider's answer has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    assembler = StreamAssembler(model)
    assembler.text(message.get("content"))
    assembler.reasoning(message.get("reasoning_content") or message.get("reasoning"))
    for index, piece in enumerate(message.get("tool_calls") or []):
        function = piece.get("function") or {}
        assembler.tool_call(index, piece.get("id"), function.get("name"), _arguments_text(function.get("arguments")))
    usage = data.get("usage") or {}
    assembler.usage(usage.get("prompt_tokens"), usage.get("completion_tokens"), cached_of(usage))
    assembler.finish(choice.get("finish_reason") or "stop")
    return assembler.result()
