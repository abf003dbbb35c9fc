"""Calling LLMs through litellm: provider resolution, streaming, retries, usage and cost.

litellm is imported lazily (~5 s) and only here and in embeddings.
Models are named the litellm way: ``openai/gpt-4o-mini``, ``anthropic/...``,
``groq/...``, ``ollama/...``; any OpenAI-compatible server is ``openai/<model>``
with a base URL (config ``providers.openai.base_url`` or ``OPENAI_BASE_URL``).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memos.core.config import PROVIDER_KEY_VARIABLES, Config
from memos.errors import ProviderError, first_line
from memos.lazy import import_litellm

MAX_ATTEMPTS = 4
RETRY_BASE_SECONDS = 0.5
REQUEST_TIMEOUT = 120.0


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
    cost_usd: float | None = None
    latency_ms: float = 0.0
    finish_reason: str = "stop"
    cancelled: bool = False


@dataclass(frozen=True)
class Route:
    model: str  # what litellm is called with
    kwargs: dict[str, Any]


def resolve(config: Config, model: str) -> Route:
    """Aliases, base URLs and keys for a model name; a clear error when a key is missing."""
    if config.is_set(f"aliases.{model}"):
        model = config.get(f"aliases.{model}")
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    kwargs: dict[str, Any] = {}
    if provider == "openai":
        base = config.get("providers.openai.base_url") or os.environ.get("OPENAI_BASE_URL")
        if base:
            kwargs["api_base"] = base
            kwargs["api_key"] = os.environ.get("OPENAI_API_KEY") or "no-key-needed"
    elif provider in ("ollama", "ollama_chat"):
        kwargs["api_base"] = os.environ.get("OLLAMA_HOST") or config.get("providers.ollama.base_url")
    elif provider in ("anthropic", "groq"):
        base = config.get(f"providers.{provider}.base_url")
        if base:
            kwargs["api_base"] = base
    variable = PROVIDER_KEY_VARIABLES.get(provider)
    if variable and "api_key" not in kwargs and not os.environ.get(variable):
        raise ProviderError(
            f"no API key for {provider} (model {model})",
            f"set {variable}, or use a local model: `memos config set providers.openai.base_url "
            f"http://localhost:11434/v1` with an openai/<model> name, or an ollama/<model> name",
        )
    return Route(model if "/" in model else f"openai/{model}", kwargs)


def _first_line(exc: BaseException) -> str:
    return first_line(exc).replace("litellm.", "")[:300]


def _retryable(litellm: Any, exc: BaseException) -> bool:
    kinds = tuple(getattr(litellm, name) for name in (
        "RateLimitError", "InternalServerError", "ServiceUnavailableError", "Timeout", "APIConnectionError")
        if hasattr(litellm, name))
    return isinstance(exc, kinds)


class ContextTooLong(ProviderError):
    """The provider refused a request as longer than the model's context window."""


def _says_too_long(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "context_length_exceeded" in text or "maximum context length" in text or "context window" in text


def _refusal(litellm: Any, exc: BaseException, model: str) -> ProviderError:
    if isinstance(exc, getattr(litellm, "AuthenticationError", ())):
        return ProviderError(f"the provider refused the API key for {model}", "check the key in the environment")
    if isinstance(exc, getattr(litellm, "NotFoundError", ())):
        return ProviderError(f"the provider does not know the model {model}", "check the name with `memos models`")
    if isinstance(exc, getattr(litellm, "ContextWindowExceededError", ())) or _says_too_long(exc):
        return ContextTooLong(f"the prompt is too long for {model}",
                              "lower the agent's context_window to the model's (memos agents update --context-window)")
    return ProviderError(f"the LLM call to {model} failed: {_first_line(exc)}")


def cost_of(litellm: Any, model: str, prompt: int, completion: int) -> float | None:
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(model=model, prompt_tokens=prompt,
                                                              completion_tokens=completion)
        return float(prompt_cost + completion_cost)
    except Exception:
        return None  # not in the local cost map (local or custom models)


_TOKEN_CACHE: dict[tuple[str, str], int] = {}
_TOKEN_CACHE_LIMIT = 50_000
PER_MESSAGE_TOKENS = 4  # role and separators, as OpenAI's chat format counts them


def _text_tokens(litellm: Any, model: str, text: str) -> int:
    """Tokens of one text, cached: stored messages never change, and litellm's counter
    costs milliseconds per call to set up."""
    key = (model, text)
    cached = _TOKEN_CACHE.get(key)
    if cached is None:
        try:
            cached = int(litellm.token_counter(model=model, text=text))
        except Exception:
            cached = len(text) // 4
        if len(_TOKEN_CACHE) >= _TOKEN_CACHE_LIMIT:
            _TOKEN_CACHE.clear()
        _TOKEN_CACHE[key] = cached
    return cached


def count_tokens(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """Prompt tokens of a chat request, counted with litellm's tokenizer for the model."""
    litellm = import_litellm()
    total = 0
    for message in messages:
        text = message.get("content") or ""
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"])
        total += _text_tokens(litellm, model, text) + PER_MESSAGE_TOKENS
    if tools:
        total += _text_tokens(litellm, model, json.dumps(tools))
    return total


class LLM:
    def __init__(self, config: Config) -> None:
        self.config = config

    def complete(self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, *,
                 on_text: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
                 stream: bool = True) -> Completion:
        route = resolve(self.config, model)
        litellm = import_litellm()
        base_delay = float(os.environ.get("MEMOS_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS))
        for attempt in range(1, MAX_ATTEMPTS + 1):
            started = time.perf_counter()
            try:
                result = self._call(litellm, route, messages, tools, on_text, cancel, stream)
                result.latency_ms = (time.perf_counter() - started) * 1000
                if not result.prompt_tokens:
                    result.prompt_tokens = count_tokens(route.model, messages, tools)
                result.cost_usd = cost_of(litellm, route.model, result.prompt_tokens, result.completion_tokens)
                return result
            except ProviderError:
                raise
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                if _retryable(litellm, exc) and attempt < MAX_ATTEMPTS:
                    time.sleep(base_delay * (2 ** (attempt - 1)) * (0.5 + random.random()))
                    continue
                if _retryable(litellm, exc):
                    raise ProviderError(f"the LLM call to {model} kept failing after {MAX_ATTEMPTS} tries: "
                                        f"{_first_line(exc)}", "try again later") from None
                raise _refusal(litellm, exc, model) from None
        raise AssertionError("unreachable")

    def _call(self, litellm: Any, route: Route, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
              on_text: Callable[[str], None] | None, cancel: threading.Event | None, stream: bool) -> Completion:
        params: dict[str, Any] = {"model": route.model, "messages": messages, "timeout": REQUEST_TIMEOUT,
                                  "num_retries": 0, **route.kwargs}
        if tools:
            params["tools"] = tools
        if not stream:
            response = litellm.completion(**params)
            return self._from_response(route.model, response)
        params.update(stream=True, stream_options={"include_usage": True})
        response = litellm.completion(**params)
        out = Completion(model=route.model)
        calls: dict[int, dict[str, str]] = {}
        try:
            for chunk in response:
                if cancel is not None and cancel.is_set():
                    out.cancelled, out.finish_reason = True, "cancelled"
                    break
                usage = getattr(chunk, "usage", None)
                if usage:
                    out.prompt_tokens = getattr(usage, "prompt_tokens", 0) or out.prompt_tokens
                    out.completion_tokens = getattr(usage, "completion_tokens", 0) or out.completion_tokens
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                delta = choice.delta
                text = getattr(delta, "content", None)
                if text:
                    out.content += text
                    if on_text:
                        on_text(text)
                reasoning = getattr(delta, "reasoning_content", None)
                if reasoning:
                    out.reasoning += reasoning
                for call in getattr(delta, "tool_calls", None) or []:
                    slot = calls.setdefault(call.index or 0, {"id": "", "name": "", "arguments": ""})
                    if call.id:
                        slot["id"] = call.id
                    if call.function is not None:
                        slot["name"] += call.function.name or ""
                        slot["arguments"] += call.function.arguments or ""
                if choice.finish_reason:
                    out.finish_reason = choice.finish_reason
        except KeyboardInterrupt:
            out.cancelled, out.finish_reason = True, "cancelled"
        finally:
            closer = getattr(getattr(response, "completion_stream", None), "close", None)
            if out.cancelled and closer:
                try:
                    closer()
                except Exception:
                    pass
        out.tool_calls = [ToolCallRequest(c["id"] or f"call-{i}", c["name"], c["arguments"])
                          for i, c in sorted(calls.items()) if c["name"]]
        if not out.completion_tokens:
            out.completion_tokens = max(1, len(out.content) // 4) if out.content else 0
        return out

    @staticmethod
    def _from_response(model: str, response: Any) -> Completion:
        choice = response.choices[0]
        message = choice.message
        calls = [ToolCallRequest(c.id, c.function.name, c.function.arguments or "")
                 for c in (getattr(message, "tool_calls", None) or [])]
        usage = getattr(response, "usage", None)
        return Completion(model=model, content=message.content or "",
                          reasoning=getattr(message, "reasoning_content", None) or "", tool_calls=calls,
                          prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                          completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                          finish_reason=choice.finish_reason or "stop")


@dataclass(frozen=True)
class ProviderStatus:
    provider: str
    usable: bool
    detail: str
    base_url: str | None
    models: list[str]


def _list_remote_models(url: str, key: str | None) -> list[str]:
    """Model ids from an OpenAI-compatible /models or Ollama /api/tags (short timeout)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(url, headers=headers, timeout=3.0)
    response.raise_for_status()
    data = response.json()
    if "models" in data:  # Ollama
        return sorted(m.get("name", "") for m in data["models"])
    return sorted(m.get("id", "") for m in data.get("data", []))


def provider_statuses(config: Config) -> list[ProviderStatus]:
    """What memos can reach: providers with keys, and the models a local server reports."""
    statuses = []
    openai_base = config.get("providers.openai.base_url") or os.environ.get("OPENAI_BASE_URL")
    for provider, variable in PROVIDER_KEY_VARIABLES.items():
        base = openai_base if provider == "openai" else config.get(f"providers.{provider}.base_url")
        has_key = bool(os.environ.get(variable))
        models: list[str] = []
        detail = f"{variable} is set" if has_key else f"{variable} is not set"
        usable = has_key or (provider == "openai" and bool(base))
        if provider == "openai" and base:
            try:
                models = _list_remote_models(base.rstrip("/") + "/models", os.environ.get(variable))
                detail = f"server at {base} answered"
            except Exception as exc:
                usable, detail = False, f"server at {base} did not answer ({type(exc).__name__})"
        statuses.append(ProviderStatus(provider, usable, detail, base, models))
    ollama = os.environ.get("OLLAMA_HOST") or config.get("providers.ollama.base_url")
    try:
        models = _list_remote_models(ollama.rstrip("/") + "/api/tags", None)
        statuses.append(ProviderStatus("ollama", True, f"Ollama at {ollama} answered", ollama,
                                       [f"ollama/{m}" for m in models]))
    except Exception:
        statuses.append(ProviderStatus("ollama", False, f"no Ollama at {ollama}", ollama, []))
    return statuses
