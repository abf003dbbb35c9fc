"""Archival memory: embed and insert passages, search them, page through them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import groupby
from typing import TYPE_CHECKING

import numpy as np

from memos.core.ingest import Record, split_records
from memos.errors import InvalidInput
from memos.store.base import Agent, NewPassage, Passage, PassageHit, PassageQuery, Store
from memos.store.embeddings import Embedder

if TYPE_CHECKING:
    from typing import Protocol

    class PassageOwner(Protocol):
        """An agent, or an archive (passages shared by agents): whoever passages are stored under."""

        @property
        def id(self) -> str: ...

        @property
        def embedding_model(self) -> str: ...

EMBED_BATCH = 256
INSERT_CHUNK = 1_000  # passages per insert call: bounds the term rows held at once (a 50 MB import)
MAX_TOP_K = 1_000

Progress = Callable[[int, int], None]  # (done, total)


def _embedder(agent: PassageOwner) -> Embedder:
    from memos.store.embeddings import get_embedder

    return get_embedder(agent.embedding_model)


def embed_texts(agent: PassageOwner, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
    embedder = _embedder(agent)
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        parts.append(embedder.embed(texts[start:start + EMBED_BATCH]))
        if progress:
            progress(min(start + EMBED_BATCH, len(texts)), len(texts))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


def insert(store: Store, agent: PassageOwner, records: Sequence[Record], progress: Progress | None = None,
           related: bool = True) -> list[Passage]:
    """Embed every record, then insert them all in one transaction: all or nothing.

    ``related``: the records were written together (a conversation's turns, a document's
    chunks), so hybrid search lets neighbours lend each other context; False for independent
    notes (a list of facts, one per line).

    Embedding (the slow part) happens before the write lock is taken, so other
    processes keep working meanwhile; an interrupt before the end inserts nothing.
    A record longer than a passage (ingest.PASSAGE_CHARS) becomes several passages.
    """
    if not records:
        raise InvalidInput("nothing to insert")
    for record in records:
        if not record.text.strip():
            raise InvalidInput(f"record on line {record.line} is empty")
        if "\x00" in record.text:
            raise InvalidInput(f"record on line {record.line} contains a NUL byte", "give plain text")
    shared = new_batch() if related else None
    pieces: list[tuple[Record, int | None]] = []
    for record in records:
        split = split_records([record])
        # Independent notes are each their own source, but a long one's pieces belong together
        own = shared if related else (new_batch() if len(split) > 1 else None)
        pieces.extend((piece, own) for piece in split)
    vectors = embed_texts(agent, [piece.text for piece, _ in pieces], progress)
    inserted: list[Passage] = []
    passages = [(NewPassage(piece.text, vectors[i], list(piece.tags), piece.created_at), batch)
                for i, (piece, batch) in enumerate(pieces)]
    with store.transaction():
        for batch, group in groupby(passages, key=lambda item: item[1]):  # one insert per batch and chunk
            same = [passage for passage, _ in group]
            for start in range(0, len(same), INSERT_CHUNK):
                inserted.extend(store.insert_passages(agent.id, same[start:start + INSERT_CHUNK], batch))
    return inserted


def search(store: Store, agent: Agent, query: PassageQuery) -> list[PassageHit]:
    """Search with ``query.text`` the agent's archival memory and the archives attached to it;
    the query embedding is computed here, per model, when the mode needs it."""
    if not (query.text or "").strip():
        raise InvalidInput("the search query is empty", "give some words to search for")
    if not 0 < query.top_k <= MAX_TOP_K:
        raise InvalidInput(f"top-k must be between 1 and {MAX_TOP_K}")
    if query.offset < 0:
        raise InvalidInput("offset must be 0 or more")
    shared = store.agent_archives(agent.id)
    if not shared:
        return search_owner(store, agent, query)
    # Each owner's best top_k + offset, merged by score, then the page asked for.
    deep = replace(query, top_k=query.top_k + query.offset, offset=0)
    found = search_owners(store, [agent, *shared], deep)
    return [hit for _, hit in found][query.offset:query.offset + query.top_k]


def search_owner(store: Store, owner: PassageOwner, query: PassageQuery) -> list[PassageHit]:
    """Search the passages of one agent (its own only) or one archive."""
    if query.mode in ("vector", "hybrid") and query.embedding is None:
        query = replace(query, embedding=_embedder(owner).embed([query.text or ""])[0])
    return store.search_passages(owner.id, query)


def search_owners(store: Store, owners: Sequence[PassageOwner], query: PassageQuery
                  ) -> list[tuple[PassageOwner, PassageHit]]:
    """One search over the passages of several agents (each its own only) and archives, best
    first: each owner's with its own embedding model, the hits merged by score and cut to
    ``top_k`` (scores of different models are each a similarity in [0, 1], not calibrated to
    each other). The query is embedded once per model; one embedded by the caller is taken to
    be in the first owner's model."""
    embedded: dict[str, np.ndarray] = {}
    if query.embedding is not None and owners:
        embedded[owners[0].embedding_model] = query.embedding
    found: list[tuple[PassageOwner, PassageHit]] = []
    for owner in owners:
        asked = query
        if query.mode in ("vector", "hybrid"):
            if owner.embedding_model not in embedded:
                embedded[owner.embedding_model] = _embedder(owner).embed([query.text or ""])[0]
            asked = replace(query, embedding=embedded[owner.embedding_model])
        found += [(owner, hit) for hit in store.search_passages(owner.id, asked)]
    found.sort(key=lambda item: -item[1].score)
    return found[:query.top_k]


def new_batch() -> int:
    """An id for passages written together (store.insert_passages)."""
    import secrets

    return secrets.randbits(62)
