"""pgvector with embeddings of any width: one HNSW graph per width, as a partial expression index.

The passages table keeps every agent's vectors in one `vector` column (no fixed width). pgvector
builds an HNSW graph only over vectors of one width, so each width stored gets its own index,
``USING hnsw ((embedding::vector(N)) vector_cosine_ops) WHERE vector_dims(embedding) = N``, and a
search of an N-wide query orders by that same expression under that same predicate, which is
what lets the planner pick it. Chosen over a table per width (docs/design.md): one table keeps
every other query, the COPY path and the agent-file and migrate-to code as they are, and an
agent moving to another model is an UPDATE, not a move between tables.

pgvector indexes `vector` up to 2,000 dimensions and `halfvec` up to 4,000: wider models
(3,072 for text-embedding-3-large) are indexed as halfvec (scores from the index are then
half-precision; the exact rescoring of hybrid search uses the full vectors). Past 4,000, searches
scan exactly.
"""

from __future__ import annotations

from typing import Any

VECTOR_INDEX_MAX = 2_000
HALFVEC_INDEX_MAX = 4_000
known: set[tuple[str, int]] = set()  # (database, width) whose index this process has seen


def _kind(width: int) -> str:
    """The pgvector type a vector of this width is indexed (and searched) as."""
    return "vector" if width <= VECTOR_INDEX_MAX else "halfvec"


def expression(width: int) -> str:
    """The indexed expression for this width (the same cast in the index and in searches)."""
    return f"(p.embedding::{_kind(width)}({int(width)}))"


def query_cast(width: int) -> str:
    return f"$q::{_kind(width)}({int(width)})"


def predicate(width: int) -> str:
    return f"vector_dims(p.embedding) = {int(width)}"


def index_definition(width: int) -> str:
    """CREATE INDEX (if missing) of the HNSW graph for vectors of this width."""
    kind = _kind(width)
    return (f"CREATE INDEX IF NOT EXISTS passages_embedding_{int(width)} ON passages USING hnsw "
            f"((embedding::{kind}({int(width)})) {kind}_cosine_ops) WITH (m = 16, ef_construction = 128) "
            f"WHERE vector_dims(embedding) = {int(width)}")


def indexed(database: str, width: int) -> bool:
    """Whether this process knows the width's index is there, or that it gets none (too wide)."""
    return (database, width) in known or width > HALFVEC_INDEX_MAX


def ensure_index(raw: Any, database: str, width: int) -> None:
    """Make the HNSW index for this width if there is none (in its own transaction, on a
    connection in autocommit: CREATE INDEX blocks writes to the table while it builds, so it is
    done once, before the first insert of that width, when the table holds none of them)."""
    # Two replicas may race: the advisory lock makes the second wait, then find the index.
    raw.execute("SELECT pg_advisory_lock(hashtext('memos:vector-index'))")
    try:
        raw.execute(index_definition(width))
    finally:
        raw.execute("SELECT pg_advisory_unlock(hashtext('memos:vector-index'))")
    known.add((database, width))
