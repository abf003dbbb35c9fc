"""LLM calls through litellm: the providers that do not speak OpenAI's API (Anthropic, ...).

litellm costs ~3 s to import, so OpenAI-compatible endpoints go through llm_http
instead and this module is imported only when a route needs it (or the
``llm_client`` setting asks for litellm everywhere).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from memos.core.completion import (
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
from memos.errors import ProviderError, first_line
from memos.lazy import import_litellm

_TRANSIENT = ("RateLimitError", "InternalServerError", "ServiceUnavailableError", "Timeout", "APIConnectionError")


def _first_line(exc: BaseException) -> str:
    return first_line(exc).replace("litellm.", "")[:300]


def _translated(litellm: Any, exc: Exception, model: str) -> Exception:
    """litellm's exception as a Transient (retry) or a ProviderError (final), by the same rules
    as the plain HTTP client: an overflow in any server's words makes room; a server error that
    says the request is malformed is not retried."""
    # The server's own words: litellm's message may leave out a body that is not OpenAI's shape
    # (LM Studio answers {"error": "..."}), which it keeps on the exception.
    body = getattr(exc, "body", None)
    text = f"{exc} {json.dumps(body) if isinstance(body, (dict, list)) else body or ''}"
    if isinstance(exc, getattr(litellm, "ContextWindowExceededError", ())) or says_too_long(text):
        return too_long(model, text)
    if says_malformed(text):
        return malformed_request(model, int(getattr(exc, "status_code", 0) or 0), _first_line(exc))
    if isinstance(exc, tuple(getattr(litellm, name) for name in _TRANSIENT if hasattr(litellm, name))):
        return Transient(_first_line(exc))
    if isinstance(exc, getattr(litellm, "AuthenticationError", ())):
        return bad_key(model)
    if isinstance(exc, getattr(litellm, "NotFoundError", ())):
        return unknown_model(model)
    return ProviderError(f"the LLM call to {model} failed: {_first_line(exc)}")


def call(model: str, kwargs: dict[str, Any], messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
         on_text: Callable[[str], None] | None, cancel: threading.Event | None, stream: bool,
         timeout: float, on_tool: ToolDelta | None = None, *, max_tokens: int | None = None,
         response_format: dict[str, Any] | None = None, on_reasoning: Callable[[str], None] | None = None) -> Completion:
    litellm = import_litellm()
    if max_tokens:
        kwargs = {**kwargs, "max_tokens": max_tokens}  # litellm maps it to each provider's own name
    if response_format:
        kwargs = {**kwargs, "response_format": response_format}  # as is, or as a tool for Anthropic (litellm)
    try:
        return _call(litellm, model, kwargs, messages, tools, on_text, cancel, stream, timeout, on_tool, on_reasoning)
    except (ProviderError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise _translated(litellm, exc, model) from None


def _call(litellm: Any, model: str, kwargs: dict[str, Any], messages: list[dict[str, Any]],
          tools: list[dict[str, Any]] | None, on_text: Callable[[str], None] | None,
          cancel: threading.Event | None, stream: bool, timeout: float,
          on_tool: ToolDelta | None = None, on_reasoning: Callable[[str], None] | None = None) -> Completion:
    params: dict[str, Any] = {"model": model, "messages": messages, "timeout": timeout, "num_retries": 0, **kwargs}
    if tools:
        params["tools"] = tools
    if not stream:
        return _from_response(model, litellm.completion(**params))
    params.update(stream=True, stream_options={"include_usage": True})
    response = litellm.completion(**params)
    assembler = StreamAssembler(model, on_tool, on_reasoning)
    try:
        for chunk in response:
            if cancel is not None and cancel.is_set():
                assembler.cancel()
                break
            usage = getattr(chunk, "usage", None)
            if usage:
                assembler.usage(getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0),
                                cached_of(usage))
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            delta = choice.delta
            text = assembler.text(getattr(delta, "content", None))
            if text and on_text:
                on_text(text)
            assembler.reasoning(getattr(delta, "reasoning_content", None))
            for piece in getattr(delta, "tool_calls", None) or []:
                function = piece.function
                assembler.tool_call(piece.index, piece.id, function.name if function else None,
                                    function.arguments if function else None)
            assembler.finish(choice.finish_reason)
    except KeyboardInterrupt:
        assembler.cancel()
    finally:
        closer = getattr(getattr(response, "completion_stream", None), "close", None)
        if assembler.out.cancelled and closer:
            try:
                closer()
            except Exception:
                pass
    return assembler.result()


def _from_response(model: str, response: Any) -> Completion:
    choice = response.choices[0]
    message = choice.message
    assembler = StreamAssembler(model)
    assembler.text(message.content)
    assembler.reasoning(getattr(message, "reasoning_content", None))
    for index, piece in enumerate(getattr(message, "tool_calls", None) or []):
        assembler.tool_call(index, piece.id, piece.function.name, piece.function.arguments or "")
    usage = getattr(response, "usage", None)
    assembler.usage(getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0), cached_of(usage))
    assembler.finish(choice.finish_reason or "stop")
    return assembler.result()
