"""What an LLM call returns, and the failures a provider client reports, whatever the client.

Two clients speak to providers (llm_http for OpenAI-compatible endpoints, llm_litellm
for the rest); both build a ``Completion`` with ``StreamAssembler`` and report failures
as ``Transient`` (worth retrying) or a ``ProviderError`` (final), so the retry loop in
llm.py does not care which one ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memos.errors import ProviderError


@dataclass(frozen=True)
class ToolCallRequest:
    id: str
    name: str
    arguments: str  # raw JSON text, as the model wrote it (it may be malformed)


@dataclass
class Completion:
    model: str
    content: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # of the prompt tokens, those the provider served from its prompt cache
    cost_usd: float | None = None
    latency_ms: float = 0.0
    finish_reason: str = "stop"
    cancelled: bool = False


class ContextTooLong(ProviderError):
    """The provider refused a request as longer than the model's context window; ``window`` is
    that window when the refusal says it (most servers do), so the retry can fit it."""

    def __init__(self, message: str, hint: str | None = None, window: int | None = None) -> None:
        super().__init__(message, hint)
        self.window = window


class Transient(Exception):
    """A failure worth retrying: rate limits, server errors, timeouts, dropped connections."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after  # seconds the provider asked us to wait, if it said


# Each provider's own API: a model called anywhere else is served by someone else (its price, its
# parameter names are not the provider's).
OFFICIAL_BASES = {"openai": "https://api.openai.com/v1", "groq": "https://api.groq.com/openai/v1",
                  "anthropic": "https://api.anthropic.com"}

# How each server words "the request is longer than the context" (tests/data/context_overflow_errors.json
# keeps their real bodies): OpenAI and vLLM, Anthropic, llama.cpp, Ollama, LM Studio (llama.cpp and MLX).
CONTEXT_OVERFLOW_WORDS = (
    "context_length_exceeded", "maximum context length", "context window",  # OpenAI, vLLM
    "prompt is too long", "exceed context limit",  # Anthropic
    "exceed_context_size_error", "exceeds the available context size",  # llama.cpp
    "exceeds the context length",  # Ollama
    "context the overflows", "context length of only", "context size has been exceeded",  # LM Studio
)
# How servers word "this request is malformed" when they answer 500 rather than 400 (llama.cpp
# parses the history's tool calls in its handler): sending the same request again cannot help.
MALFORMED_REQUEST_WORDS = ("failed to parse", "parse error", "invalid json", "json.exception")


def says_too_long(text: str) -> bool:
    """Whether a provider's error text is the context-window refusal (each words it its own way)."""
    lowered = text.lower()
    return any(words in lowered for words in CONTEXT_OVERFLOW_WORDS)


def says_malformed(text: str) -> bool:
    """Whether a server error's text says the request itself is bad (not worth a retry)."""
    lowered = text.lower()
    return any(words in lowered for words in MALFORMED_REQUEST_WORDS)


def malformed_request(model: str, status: int, text: str) -> ProviderError:
    return ProviderError(f"the server of {model} refused the request as malformed (HTTP {status}: {text[:200]})",
                         "memos did not retry it, as it would fail the same way; if it names a tool call, "
                         "tell the memos developers which server this was")


# Where a refusal states the window: llama.cpp "available context size (8192 tokens)", OpenAI and
# vLLM "maximum context length is 8192 tokens", LM Studio "context length of only 4096 tokens",
# Anthropic "> 200000 maximum".
_STATED_WINDOW = [re.compile(pattern, re.IGNORECASE) for pattern in (
    r"available context size \((\d+) tokens\)", r"maximum context length is (\d+) tokens",
    r"context length of only (\d+) tokens", r"> (\d+) maximum", r'"n_ctx":\s*(\d+)')]


def stated_window(text: str) -> int | None:
    for pattern in _STATED_WINDOW:
        found = pattern.search(text)
        if found:
            return int(found.group(1))
    return None


def too_long(model: str, text: str = "") -> ContextTooLong:
    window = stated_window(text)
    size = f" (its window is {window:,} tokens)" if window else ""
    return ContextTooLong(f"the prompt is too long for {model}{size}",
                          f"set the agent's context_window to the model's: memos agents update --context-window "
                          f"{window or 'N'}", window=window)


def bad_key(model: str) -> ProviderError:
    return ProviderError(f"the provider refused the API key for {model}", "check the key in the environment")


def unknown_model(model: str) -> ProviderError:
    return ProviderError(f"the provider does not know the model {model}", "check the name with `memos models`")


# A piece of a tool call as it streams: (index, call id, tool name, the new piece of its arguments).
ToolDelta = Callable[[int, str, str, str], None]


class StreamAssembler:
    """Folds a stream's deltas (text, reasoning, pieces of tool calls, usage) into one Completion;
    ``on_tool`` hears each piece of a tool call's arguments as it arrives (token streaming)."""

    def __init__(self, model: str, on_tool: ToolDelta | None = None,
                 on_reasoning: Callable[[str], None] | None = None) -> None:
        self.out = Completion(model=model)
        self._calls: dict[int, dict[str, str]] = {}
        self.on_tool = on_tool
        self.on_reasoning = on_reasoning  # hears the model's reasoning as it arrives (token streaming)

    def text(self, piece: str | None) -> str | None:
        if piece:
            self.out.content += piece
        return piece or None

    def reasoning(self, piece: str | None) -> None:
        if piece:
            self.out.reasoning += piece
            if self.on_reasoning is not None:
                self.on_reasoning(piece)

    def tool_call(self, index: int | None, call_id: str | None, name: str | None, arguments: str | None) -> None:
        slot = self._calls.setdefault(index or 0, {"id": "", "name": "", "arguments": ""})
        if call_id:
            slot["id"] = call_id
        slot["name"] += name or ""
        slot["arguments"] += arguments or ""
        if self.on_tool is not None and (arguments or name):
            self.on_tool(index or 0, slot["id"], slot["name"], arguments or "")

    def usage(self, prompt_tokens: int | None, completion_tokens: int | None, cached_tokens: int | None = None) -> None:
        self.out.prompt_tokens = prompt_tokens or self.out.prompt_tokens
        self.out.completion_tokens = completion_tokens or self.out.completion_tokens
        self.out.cached_tokens = cached_tokens or self.out.cached_tokens

    def finish(self, reason: str | None) -> None:
        if reason:
            self.out.finish_reason = reason

    def cancel(self) -> None:
        self.out.cancelled, self.out.finish_reason = True, "cancelled"

    def result(self) -> Completion:
        out = self.out
        out.tool_calls = [ToolCallRequest(c["id"] or f"call-{i}", c["name"], c["arguments"])
                          for i, c in sorted(self._calls.items()) if c["name"]]
        if not out.completion_tokens:
            out.completion_tokens = max(1, len(out.content) // 4) if out.content else 0
        return out


def cached_of(usage: Any) -> int:
    """Cached prompt tokens from a usage block, a dict or an object (OpenAI's
    prompt_tokens_details.cached_tokens, which litellm also fills for Anthropic's cache reads)."""
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else getattr(usage, "prompt_tokens_details", None)
    if details is None:
        return 0
    value = details.get("cached_tokens") if isinstance(details, dict) else getattr(details, "cached_tokens", None)
    return int(value or 0)


def partial_string_field(raw: str, field: str) -> str:
    """The decoded value of a string field of a JSON object that may still be arriving
    (``{"message": "Hel`` gives ``Hel``); what is not complete yet (half an escape) is left out."""
    match = re.search(r'"' + re.escape(field) + r'"\s*:\s*"', raw)
    if match is None:
        return ""
    rest = raw[match.end():]
    end, escaped = None, False
    for i, char in enumerate(rest):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            end = i
            break
    body = rest if end is None else rest[:end]
    if end is None:
        body = re.sub(r'\\(u[0-9a-fA-F]{0,3})?$', "", body)  # a trailing, unfinished escape
    try:
        return str(json.loads('"' + body + '"'))
    except json.JSONDecodeError:
        return ""
