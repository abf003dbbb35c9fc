"""Who makes embedders for models other than the bundled one (store/embeddings.get_embedder),
and the widths models are known to have.

The store cannot import core (the layers), yet base URLs and keys live in core's config: a
workspace registers a factory here when it opens its config (core.embedding.remote_embedder with
that config). Kept apart from embeddings.py so registering costs no numpy import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from memos.store.base import EMBEDDING_DIM

LOCAL_ALIASES = {"local/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
# Widths of well-known models, for what the API reports before a model has embedded anything
# (Letta's embedding_config carries a width); once a model answers, its real width is kept.
KNOWN_WIDTHS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536,
                "nomic-embed-text": 768, "mxbai-embed-large": 1024, "all-minilm": 384, "bge-m3": 1024,
                "snowflake-arctic-embed": 1024}
_seen_widths: dict[str, int] = {}

factory: Callable[[str], Any] | None = None
generation = 0  # bumped on each registration: embedders made under an older factory are remade


def register(make: Callable[[str], Any]) -> None:
    global factory, generation
    factory = make
    generation += 1


def known_width(name: str) -> int:
    """The width this model's vectors have, as far as this process knows (0: not known yet)."""
    if name in LOCAL_ALIASES:
        return EMBEDDING_DIM
    if name in _seen_widths:
        return _seen_widths[name]
    return KNOWN_WIDTHS.get(name.split("/", 1)[-1].split(":", 1)[0], 0)


def remember_width(name: str, width: int) -> int:
    _seen_widths[name] = width
    return width
