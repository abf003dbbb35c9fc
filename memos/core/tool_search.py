"""Finding tools by what they do: a query against each tool's name and description, by words
(BM25), by meaning (the bundled embedding model) or both, fused by reciprocal rank as Letta's
tool search is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from memos.errors import InvalidInput
from memos.store.search import reciprocal_rank

if TYPE_CHECKING:
    import numpy as np

SearchMode = Literal["vector", "fts", "hybrid"]
EMBEDDING_MODEL = "local/all-MiniLM-L6-v2"  # tools are few and short: the offline model is enough


@dataclass(frozen=True)
class ToolHit:
    index: int  # the tool's position in the list searched
    combined_score: float
    fts_rank: int | None  # 1 = best; None: not matched that way (or not asked)
    vector_rank: int | None
    embedded_text: str


def tool_text(name: str, description: str) -> str:
    """What a tool is searched by: its name as words, then its description."""
    return f"{name.replace('_', ' ')}: {description}".strip()


def search_tools(texts: Sequence[str], query: str, mode: SearchMode = "hybrid", limit: int = 50) -> list[ToolHit]:
    """The tools (given by their `tool_text`) that best match ``query``, best first."""
    if not query.strip():
        raise InvalidInput("the tool search query is empty", "give some words that say what the tool does")
    if mode not in ("vector", "fts", "hybrid"):
        raise InvalidInput(f"unknown search mode '{mode}'", "use vector, fts or hybrid")
    word_ranks = _word_ranks(texts, query) if mode in ("fts", "hybrid") else {}
    meaning_ranks = _meaning_ranks(texts, query) if mode in ("vector", "hybrid") else {}
    hits = []
    for index, text in enumerate(texts):
        ranks = [r for r in (word_ranks.get(index), meaning_ranks.get(index)) if r is not None]
        if ranks:
            hits.append(ToolHit(index, sum(reciprocal_rank(r) for r in ranks), word_ranks.get(index),
                                meaning_ranks.get(index), text))
    hits.sort(key=lambda hit: (-hit.combined_score, hit.index))
    return hits[:limit]


def _word_ranks(texts: Sequence[str], query: str) -> dict[int, int]:
    """Ranks by BM25 over stemmed words, among the tools that share a word with the query."""
    from collections import Counter

    from memos.store.text import bm25_term, idf, query_terms, term_counts

    wanted = query_terms(query)
    counted = [term_counts(text) for text in texts]
    if not wanted or not counted:
        return {}
    frequencies = Counter(term for counts in counted for term in set(counts) if term in wanted)
    avgdl = max(sum(sum(c.values()) for c in counted) / len(counted), 1.0)
    scores = {i: sum(bm25_term(c[t], idf(frequencies[t], len(texts)), sum(c.values()), avgdl) for t in wanted if c.get(t))
              for i, c in enumerate(counted)}
    matched = sorted((i for i, s in scores.items() if s > 0), key=lambda i: (-scores[i], i))
    return {i: rank for rank, i in enumerate(matched, 1)}


def _meaning_ranks(texts: Sequence[str], query: str) -> dict[int, int]:
    """Ranks of every tool by cosine to the query (each text embedded once per process)."""
    if not texts:
        return {}
    from memos.store.embeddings import get_embedder

    embedder = get_embedder(EMBEDDING_MODEL)
    missing = [t for t in dict.fromkeys(texts) if t not in _vectors]
    if missing:
        _vectors.update(zip(missing, embedder.embed(missing)))
    query_vector = embedder.embed([query])[0]
    scores = {i: float(_vectors[text] @ query_vector) for i, text in enumerate(texts)}
    ordered = sorted(scores, key=lambda i: (-scores[i], i))
    return {i: rank for rank, i in enumerate(ordered, 1)}


_vectors: dict[str, np.ndarray] = {}  # tool text -> its unit vector (tools change rarely; texts are small)
