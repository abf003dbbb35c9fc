"""Calling LLMs: provider resolution, the choice of client, retries, usage and cost.

Models are named the litellm way: ``openai/gpt-4o-mini``, ``anthropic/...``,
``groq/...``, ``ollama/...``; any OpenAI-compatible server is ``openai/<model>``
with a base URL (config ``providers.openai.base_url`` or ``OPENAI_BASE_URL``).

OpenAI, Groq, Ollama and any OpenAI-compatible server are called over plain httpx
(llm_http, ~0.1 s to import); the rest through litellm (llm_litellm, ~3 s), which the
``llm_client`` setting can also ask for everywhere. Tokens are counted with the
encodings litellm bundles (tokens.py) and cost comes from its price list (pricing.py),
neither importing litellm.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memos.core.completion import OFFICIAL_BASES, Completion, ContextTooLong, ToolCallRequest, ToolDelta, Transient
from memos.core.config import PROVIDER_KEY_VARIABLES, Config
from memos.core.pricing import cost_of
from memos.core.tokens import count_tokens
from memos.errors import ProviderError

__all__ = ["LLM", "Completion", "ContextTooLong", "Route", "ToolCallRequest", "count_tokens", "resolve"]

MAX_ATTEMPTS = 4
RETRY_BASE_SECONDS = 0.5
REQUEST_TIMEOUT = 120.0
# Providers whose chat API is OpenAI's: reached over httpx at these base URLs unless configured.
OPENAI_COMPATIBLE = {"openai": "https://api.openai.com/v1", "groq": "https://api.groq.com/openai/v1",
                     "ollama": None, "ollama_chat": None}
PRICED_ELSEWHERE = ("openai", "anthropic", "groq")  # providers.<name>.price applies to these


@dataclass(frozen=True)
class Route:
    model: str  # the litellm-style name, provider first: what usage and cost are recorded under
    kwargs: dict[str, Any]  # for litellm: api_base, api_key
    base_url: str | None = None  # set: an OpenAI-compatible endpoint, called over httpx
    api_key: str | None = field(default=None, repr=False)

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def served_elsewhere(self) -> bool:
        """Called at a base URL that is not the provider's own (a local or self-hosted server)."""
        base = self.kwargs.get("api_base")
        official = OFFICIAL_BASES.get(self.provider)
        return bool(base) and (official is None or str(base).rstrip("/") != official)

    @property
    def wire_model(self) -> str:
        """The model as the endpoint knows it: without memos's provider prefix."""
        return self.model.split("/", 1)[1] if "/" in self.model else self.model


def _http_base(config: Config, provider: str, kwargs: dict[str, Any]) -> str | None:
    """The OpenAI-compatible base URL of a provider, or None when only litellm can call it."""
    if provider not in OPENAI_COMPATIBLE or config.get("llm_client") == "litellm":
        return None
    if provider in ("ollama", "ollama_chat"):
        return str(kwargs["api_base"]).rstrip("/") + "/v1" if kwargs.get("api_base") else None
    base = kwargs.get("api_base") or OPENAI_COMPATIBLE[provider]
    return str(base) if base else None


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
    key = kwargs.get("api_key") or (os.environ.get(variable) if variable else None)
    return Route(model if "/" in model else f"openai/{model}", kwargs, _http_base(config, provider, kwargs), key)


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """How long to wait before try ``attempt + 1``: exponential backoff with jitter, or longer
    when the provider asked (Retry-After). Chat and embedding calls wait alike."""
    base_delay = float(os.environ.get("MEMOS_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS))
    backoff: float = base_delay * 2.0 ** (attempt - 1) * (0.5 + random.random())
    return max(backoff, retry_after or 0.0)


def warm_client(route: Route) -> None:
    """Import now the client a route's first call would import (a server's first reply waits less)."""
    if route.base_url is not None:
        from memos.core import llm_http

        llm_http.client()
    else:
        from memos.lazy import import_litellm

        import_litellm()


class LLM:
    def __init__(self, config: Config) -> None:
        self.config = config

    def complete(self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, *,
                 on_text: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
                 stream: bool = True, on_tool: ToolDelta | None = None, max_tokens: int | None = None,
                 response_format: dict[str, Any] | None = None,
                 on_reasoning: Callable[[str], None] | None = None) -> Completion:
        route = resolve(self.config, model)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            started = time.perf_counter()
            try:
                result = self._call(route, messages, tools, on_text, cancel, stream, on_tool, max_tokens,
                                    response_format, on_reasoning)
            except Transient as exc:
                if attempt == MAX_ATTEMPTS:
                    raise ProviderError(f"the LLM call to {model} kept failing after {MAX_ATTEMPTS} tries: "
                                        f"{exc.detail}", "try again later") from None
                time.sleep(retry_delay(attempt, exc.retry_after))
                continue
            result.latency_ms = (time.perf_counter() - started) * 1000
            if not result.prompt_tokens:  # the provider did not say: count what was sent
                result.prompt_tokens = count_tokens(route.model, messages, tools)
            result.cost_usd = self._cost(route, result.prompt_tokens, result.completion_tokens)
            return result
        raise AssertionError("unreachable")

    def _cost(self, route: Route, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The call's price: the provider's list price on its own servers; elsewhere (a local or
        self-hosted server answering to the same model name) only a price the user configured."""
        if not route.served_elsewhere:
            return cost_of(route.model, prompt_tokens, completion_tokens)
        price = self.config.get(f"providers.{route.provider}.price") if route.provider in PRICED_ELSEWHERE else None
        if not price:
            return None
        per_input, per_output = (float(part) / 1_000_000 for part in str(price).split("/"))
        return prompt_tokens * per_input + completion_tokens * per_output

    @staticmethod
    def _call(route: Route, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
              on_text: Callable[[str], None] | None, cancel: threading.Event | None, stream: bool,
              on_tool: ToolDelta | None = None, max_tokens: int | None = None,
              response_format: dict[str, Any] | None = None,
              on_reasoning: Callable[[str], None] | None = None) -> Completion:
        if route.base_url is not None:
            from memos.core import llm_http  # httpx: ~0.1 s, only when a call is made

            return llm_http.call(route.model, route.wire_model, route.base_url, route.api_key, messages, tools,
                                 on_text, cancel, stream, REQUEST_TIMEOUT, on_tool, max_tokens=max_tokens,
                                 response_format=response_format, on_reasoning=on_reasoning)
        from memos.core import llm_litellm  # litellm: ~3 s, only for providers httpx cannot reach

        return llm_litellm.call(route.model, route.kwargs, messages, tools, on_text, cancel, stream,
                                REQUEST_TIMEOUT, on_tool, max_tokens=max_tokens, response_format=response_format,
                                on_reasoning=on_reasoning)


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
    # OpenAI's "data" first: llama.cpp sends both, its "models" naming the file, "data" the alias
    # that requests use. Ollama's /api/tags has only "models".
    if isinstance(data.get("data"), list):
        return sorted(str(m.get("id", "")) for m in data["data"])
    return sorted(str(m.get("name", "")) for m in data.get("models", []))


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
