"""What an LLM call cost, from the price list litellm ships, without importing litellm.

The list is a 3.5 MB JSON file; parsing it whole costs ~40 ms per process, so only the
entry of the model asked about is decoded. Prices per token, as litellm reports them:
the full name first (``groq/llama-3.1-8b-instant``), then without the provider
(``openai/gpt-4o-mini`` is listed as ``gpt-4o-mini``). Models run locally cost nothing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from memos.lazy import litellm_package_dir

PRICE_LIST = "model_prices_and_context_window_backup.json"
FREE_PROVIDERS = {"ollama", "ollama_chat"}


@lru_cache(maxsize=1)
def _price_list_text() -> str:
    package = litellm_package_dir()
    if package is None:
        return ""
    try:
        return (package / PRICE_LIST).read_text(encoding="utf-8")
    except OSError:
        return ""


@lru_cache(maxsize=64)
def price_entry(key: str) -> dict[str, Any] | None:
    """One model's entry of the price list, decoded on its own."""
    text = _price_list_text()
    marker = json.dumps(key) + ": {"
    start = text.find("\n    " + marker)  # top-level keys only: four spaces in, at a line start
    if start < 0:
        return None
    try:
        entry, _ = json.JSONDecoder().raw_decode(text, start + 5 + len(marker) - 1)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def cost_of(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """US dollars, or None when the model is not in the price list (custom and local servers)."""
    provider, _, bare = model.partition("/")
    if provider in FREE_PROVIDERS:
        return 0.0
    for key in (model, bare) if bare else (model,):
        entry = price_entry(key)
        if entry is None:
            continue
        try:
            return float(prompt_tokens * float(entry.get("input_cost_per_token") or 0.0)
                         + completion_tokens * float(entry.get("output_cost_per_token") or 0.0))
        except (TypeError, ValueError):
            return None
    return None
