"""Archival-search helpers both backends share: checking embeddings, filters, score fusion."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from memos.errors import InvalidInput
from memos.store.base import NewPassage, Passage, PassageQuery
from memos.store.text import idf

if TYPE_CHECKING:  # numpy is imported where vectors are used: most commands never do
    import numpy as np

# Hybrid search: a convex combination of the vector's cosine and the text score as a share of
# the best the query could score, weighted 0.4 : 0.6. Tuned on LoCoMo's dev conversations only
# (bench/recall.py --tune; docs/design.md): equal-weight reciprocal rank fusion let the weaker
# ranking push good hits out, and recalled less than text search alone.
HYBRID_VECTOR_WEIGHT = 0.4
HYBRID_DEPTH = 50  # candidates taken from each mode (more when a page needs more)
# Pseudo-relevance feedback in hybrid search: the PRF_TERMS terms of the top PRF_DOCS text hits
# with the most tf x IDF (not already in the query) score the candidates again, weighted by how
# well those hits matched (their mean share of the best possible score): feedback from hits that
# barely matched would only spread their noise. Tuned on LoCoMo's dev half with the rest
# (bench/recall.py --tune): R@10 0.694 -> 0.720.
PRF_DOCS, PRF_TERMS, PRF_WEIGHT = 3, 5, 1.0
# Neighbour context in hybrid search: a passage also gets NEIGHBOUR_WEIGHT times the best fused
# score among the candidates stored within NEIGHBOUR_WINDOW places of it (by seq). Passages
# written one after another (a chunked document, the turns of a conversation) explain each
# other: the answer turn follows the question that names the topic. Tuned on LoCoMo's dev half
# (bench/recall.py; docs/design.md): R@10 0.718 -> 0.748.
NEIGHBOUR_WEIGHT, NEIGHBOUR_WINDOW = 0.5, 2
# Hybrid's text weight is scaled down while the best text match covers less than this share of
# what the query could score (see fuse_scores).
TEXT_CONFIDENT_SHARE = 0.25


MAX_EMBEDDING_DIM = 16_000  # pgvector's limit for a vector column


RANK_CONSTANT = 60  # reciprocal rank fusion's usual k: a deep hit of one list still beats none


def reciprocal_rank(rank: int) -> float:
    """A 1-based rank's share in a reciprocal rank fusion (lists whose scores share no scale)."""
    return 1.0 / (RANK_CONSTANT + rank)


def common_terms(frequencies: Mapping[str, int], total: int) -> set[str]:
    """The query terms that do not tell passages apart: those in more than half of them. A text match
    made only of words most passages share ("user" in a list of facts about the user) says
    nothing about which one is meant, so hybrid search leaves those words out of its text side
    and the vector decides (issue 32). Below COMMON_TERMS_FROM passages every term counts."""
    if total < COMMON_TERMS_FROM:
        return set()
    return {term for term, df in frequencies.items() if 2 * df > total}


COMMON_TERMS_FROM = 4


def vector_literal(vector: np.ndarray) -> str:
    """A vector as text, '[x,y,…]': what DuckDB casts to FLOAT[] and pgvector to vector.

    Binding a Python list as a DuckDB array costs 30-50 ms; this costs 0.2."""
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def check_embeddings(passages: Sequence[NewPassage]) -> np.ndarray:
    """The passages' embeddings as one float32 matrix, or InvalidInput saying what is wrong."""
    import numpy as np

    for passage in passages:
        if not passage.text.strip():
            raise InvalidInput("a passage is empty", "give every passage some text")
    widths = {len(p.embedding) for p in passages}
    if len(widths) != 1:
        raise InvalidInput(f"embeddings of one insert must have one width, got {sorted(widths)}")
    matrix = np.asarray([p.embedding for p in passages], dtype=np.float32)
    if matrix.ndim != 2 or not 1 <= matrix.shape[1] <= MAX_EMBEDDING_DIM:
        raise InvalidInput(f"embeddings must have 1 to {MAX_EMBEDDING_DIM:,} dimensions, got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise InvalidInput("an embedding contains NaN or infinity")
    return matrix


def query_vector(query: PassageQuery) -> np.ndarray:
    import numpy as np

    if query.embedding is None:
        raise InvalidInput("a vector search needs a query embedding")
    vector = np.asarray(query.embedding, dtype=np.float32).reshape(-1)
    if not 1 <= vector.shape[0] <= MAX_EMBEDDING_DIM:
        raise InvalidInput(f"the query embedding has {vector.shape[0]} dimensions")
    return vector


def passes_filters(passage: Passage, agent_id: str, query: PassageQuery) -> bool:
    """The search filters, checked in Python on rows already fetched."""
    if passage.agent_id != agent_id:
        return False
    if query.tags:
        wanted, have = set(query.tags), set(passage.tags)
        if not (wanted <= have if query.tag_match == "all" else wanted & have):
            return False
    if query.start is not None and passage.created_at < query.start:
        return False
    return query.end is None or passage.created_at <= query.end


def expansion_terms(top_counts: Sequence[Mapping[str, int]], original: Sequence[str],
                    frequencies: Mapping[str, int], total: int) -> list[str]:
    """The feedback terms: those of the top text hits (their term counts) with the most tf x IDF,
    leaving out the query's own; ties by name, so both backends pick the same."""
    weights: dict[str, float] = {}
    for counts in top_counts:
        for term, tf in counts.items():
            if term not in original and frequencies.get(term):
                weights[term] = weights.get(term, 0.0) + tf * idf(frequencies[term], total)
    return sorted(weights, key=lambda term: (-weights[term], term))[:PRF_TERMS]


def with_feedback(text: Sequence[tuple[int, float]], text_extra: Mapping[int, float], feedback: Mapping[int, float],
                  scale: float) -> tuple[list[tuple[int, float]], dict[int, float]]:
    """The text side's scores with the feedback terms' BM25 added (see PRF_WEIGHT): the text
    ranking re-sorted, and the other candidates' scores (a candidate only the feedback terms
    match joins them)."""
    top = [score for _, score in text[:PRF_DOCS]]
    confidence = min(1.0, sum(top) / len(top) / scale) if top and scale > 0 else 0.0
    weight = PRF_WEIGHT * confidence
    ranked = sorted(((seq, score + weight * feedback.get(seq, 0.0)) for seq, score in text),
                    key=lambda item: (-item[1], -item[0]))
    listed = {seq for seq, _ in text}
    extra = {seq: text_extra.get(seq, 0.0) + weight * feedback.get(seq, 0.0)
             for seq in set(text_extra) | (set(feedback) - listed)}
    return ranked, extra


def mode_explain(mode: str, ranking: Sequence[tuple[int, float]]) -> dict[int, dict[str, Any]]:
    """The explanation of a single-mode search: each hit's rank and score in that mode."""
    return {seq: {mode: {"rank": rank, "score": score}, "fused": score}
            for rank, (seq, score) in enumerate(ranking, start=1)}


def fuse_scores(vector: Sequence[tuple[int, float]], text: Sequence[tuple[int, float]], text_scale: float,
                vector_extra: Mapping[int, float], text_extra: Mapping[int, float],
                needed: int, expanded: Sequence[str] = (),
                batches_of: Callable[[list[int]], Mapping[int, int]] | None = None,
                ) -> tuple[list[tuple[int, float]], dict[int, dict[str, Any]]]:
    """Hybrid ranking of the union of both modes' candidates, best first (ties newest first).

    ``vector`` and ``text`` are each mode's ranking (seq, score); ``*_extra`` hold the scores of
    the other mode's candidates, computed exactly, so every candidate is scored by both modes
    (a candidate with no query term has text score 0). ``text_scale`` is what a passage
    matching every query term as well as possible would score: text scores become a share of
    it, comparable with a cosine, and words that are in every passage (so weigh next to
    nothing) leave the order to the vector."""
    vector_rank = {seq: rank for rank, (seq, _) in enumerate(vector, start=1)}
    text_rank = {seq: rank for rank, (seq, _) in enumerate(text, start=1)}
    vector_score = {**vector_extra, **dict(vector)}
    text_score = {**text_extra, **dict(text)}
    # The text side counts in full once some passage matches a good share of the query; a best
    # match of one everyday word ("old" in "how old is the child") is weak evidence, and lent at
    # full weight it let notes that merely share that word pass the one meant (issue 32).
    best_share = max(text_score.values(), default=0.0) / text_scale if text_scale > 0 else 0.0
    confidence = min(1.0, best_share / TEXT_CONFIDENT_SHARE)
    weight = HYBRID_VECTOR_WEIGHT
    text_weight = (1 - weight) * confidence
    fused: dict[int, float] = {}
    explained: dict[int, dict[str, Any]] = {}
    for seq in vector_rank.keys() | text_rank.keys():
        cosine = vector_score.get(seq, 0.0)
        share = text_score.get(seq, 0.0) / text_scale if text_scale > 0 else 0.0
        fused[seq] = weight * cosine + text_weight * share
        explained[seq] = {"vector": {"rank": vector_rank.get(seq), "score": cosine},
                          "text": {"rank": text_rank.get(seq), "score": text_score.get(seq, 0.0), "share": share},
                          "fused": fused[seq], "weights": {"vector": weight, "text": text_weight},
                          "feedback_terms": list(expanded)}
    final = with_neighbours(fused, explained, batches_of(sorted(fused)) if batches_of else {})
    ranked = sorted(final.items(), key=lambda item: (-item[1], -item[0]))[:needed]
    return ranked, {seq: explained[seq] for seq, _ in ranked}


def with_neighbours(fused: Mapping[int, float], explained: dict[int, dict[str, Any]],
                    batches: Mapping[int, int]) -> dict[int, float]:
    """Each candidate's fused score plus NEIGHBOUR_WEIGHT times the best fused score of the
    candidates within NEIGHBOUR_WINDOW seqs of it (written just before or after it) in the same
    batch: passages written together (a conversation, a document's chunks) explain each other,
    independent notes stored one after another do not (issue 32: a list of facts lent unrelated
    facts +0.08). The explanation records which neighbour lent how much."""
    final: dict[int, float] = {}
    for seq, score in fused.items():
        batch = batches.get(seq)
        near = [(fused[other], other) for step in range(1, NEIGHBOUR_WINDOW + 1)
                for other in (seq - step, seq + step)
                if other in fused and batch is not None and batches.get(other) == batch]
        best, neighbour = max(near) if near else (0.0, None)
        if best <= 0:  # a neighbour matching nothing lends nothing (nor takes away)
            best, neighbour = 0.0, None
        final[seq] = score + NEIGHBOUR_WEIGHT * best
        # offset: where the neighbour was stored (-1: just before this passage, 2: two after).
        explained[seq]["neighbour"] = {"offset": None if neighbour is None else neighbour - seq,
                                       "score": best, "weight": NEIGHBOUR_WEIGHT}
        explained[seq]["fused"] = final[seq]
    return final
