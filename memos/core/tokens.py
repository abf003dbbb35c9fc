"""Counting prompt tokens without importing litellm.

litellm's ``token_counter`` counts with tiktoken: the model's own encoding for
OpenAI models (o200k_base for gpt-4o and later), cl100k_base for the rest, from
encoding files it bundles. memos picks the encoding the same way and reads the
same files directly, so nothing is fetched.

Loading the encoding still costs ~0.15 s, a quarter of what a pipeline call may
take, so it is loaded only when the answer matters: a cl100k token is at least
one UTF-8 byte, so a prompt whose bytes fit under a limit fits in tokens too
(``fits_within``).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from memos.lazy import litellm_package_dir

PER_MESSAGE_TOKENS = 4  # role and separators, as OpenAI's chat format counts them
DEFAULT_ENCODING = "cl100k_base"
_CACHE_LIMIT = 50_000

_encodings: dict[str, Any] = {}
_encoding_lock = threading.Lock()
_counts: dict[tuple[str, str], int] = {}


def _bundled_encodings() -> Path | None:
    """litellm's directory of tiktoken encoding files."""
    package = litellm_package_dir()
    path = package / "litellm_core_utils" / "tokenizers" if package else None
    return path if path is not None and path.is_dir() else None


def encoding_name(model: str) -> str:
    """The model's own encoding when tiktoken knows the model (OpenAI's), else cl100k_base."""
    from tiktoken.model import encoding_name_for_model

    try:
        return encoding_name_for_model(model.rsplit("/", 1)[-1])
    except KeyError:
        return DEFAULT_ENCODING


def _load_encoding(name: str) -> Any:
    with _encoding_lock:
        if name not in _encodings:
            bundled = _bundled_encodings()
            if bundled is not None and "TIKTOKEN_CACHE_DIR" not in os.environ:
                os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)  # offline: never download an encoding
            import tiktoken

            _encodings[name] = tiktoken.get_encoding(name)
        return _encodings[name]


def text_tokens(model: str, text: str) -> int:
    """Tokens of one text, cached: stored messages never change."""
    name = encoding_name(model)
    cached = _counts.get((name, text))
    if cached is None:
        try:
            cached = len(_load_encoding(name).encode(text, disallowed_special=()))
        except Exception:  # no encoding file (a broken install): a rough count beats no turn
            cached = len(text) // 4
        if len(_counts) >= _CACHE_LIMIT:
            _counts.clear()
        _counts[(name, text)] = cached
    return cached


def _texts(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[str]:
    texts = []
    for message in messages:
        text = message.get("content") or ""
        if not isinstance(text, str):
            text = json.dumps(text)
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"])
        texts.append(text)
    if tools:
        texts.append(json.dumps(tools))
    return texts


def count_tokens(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """Prompt tokens of a chat request to ``model``."""
    total = sum(text_tokens(model, text) for text in _texts(messages, tools))
    return total + PER_MESSAGE_TOKENS * len(messages)


def upper_bound(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> int:
    """At least the prompt's tokens, counted without a tokenizer: every token is one byte or more."""
    total = sum(len(text.encode("utf-8")) for text in _texts(messages, tools))
    return total + PER_MESSAGE_TOKENS * len(messages)


def fits_within(limit: float, model: str, messages: list[dict[str, Any]],
                tools: list[dict[str, Any]] | None = None) -> bool:
    """Whether the prompt has at most ``limit`` tokens, tokenizing only when the bound cannot tell."""
    return upper_bound(messages, tools) <= limit or count_tokens(model, messages, tools) <= limit
