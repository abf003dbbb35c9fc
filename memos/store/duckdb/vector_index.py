"""Per-agent HNSW index of passage embeddings, kept beside the database file.

The passages table is the source of truth; this index is derived data and can
always be rebuilt from it. It covers the passages up to a *watermark* (their
``seq``); searches score the newer tail exactly in SQL, so results are right
immediately after an insert without paying an index update per write.
When the tail grows past `TAIL_LIMIT` the index catches up in one batch.

Why not DuckDB's vss extension: with a persisted HNSW index every write
connection's checkpoint re-serialises the whole index (2.4 s at 100k
passages, measured), and memos must keep connections short for
multi-process use. See bench/README.md.

Files for agent A: ``<db>.vectors/A.usearch`` (the graph) and ``A.json``
(watermark, counts, store id); see sidecar.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos.store.base import EMBEDDING_DIM
from memos.store.duckdb.sidecar import Sidecars

if TYPE_CHECKING:  # numpy is imported where vectors are used: most commands never do
    import numpy as np

TAIL_LIMIT = 2048
# Rebuild from scratch once this share of the indexed passages has been deleted.
REBUILD_DELETED_SHARE = 0.25


@dataclass(frozen=True)
class IndexState:
    index: Any | None  # usearch Index (a read-only memory map) or None
    watermark: int
    indexed: int
    damaged: bool = False  # files there, but unreadable or not matching their meta: rebuild


def _restore(path: Path, *, view: bool, expected: int) -> Any | None:
    """The index in ``path``, or None when it cannot be trusted: unreadable, truncated (a
    power cut, a full disk) or holding another number of vectors than its meta file says."""
    from usearch.index import Index

    try:
        index = Index.restore(str(path), view=view)
    except Exception:  # usearch raises ValueError/RuntimeError for a damaged file
        return None
    if index is None or len(index) != expected:
        return None
    return index


def _new_index(ndim: int) -> Any:
    from usearch.index import Index

    # connectivity/expansion chosen for recall@10 >= 0.98 on MiniLM embeddings (bench/).
    return Index(ndim=ndim, metric="cos", dtype="f32", connectivity=16,
                 expansion_add=128, expansion_search=96)


class VectorIndexes(Sidecars[IndexState]):
    def _index_path(self, agent_id: str) -> Path:
        return self.directory / f"{agent_id}.usearch"

    def _stamp(self, agent_id: str) -> tuple[int, ...] | None:
        # The index file's own stamp too: the cached state is a memory map of that file, and a
        # file changed under it (truncated in place) must be read again, not used (SIGBUS).
        meta = super()._stamp(agent_id)
        if meta is None:
            return None
        try:
            index = self._index_path(agent_id).stat()
        except FileNotFoundError:
            return (*meta, -1, -1, -1)
        return (*meta, index.st_size, index.st_mtime_ns, index.st_ino)

    def state(self, agent_id: str) -> IndexState:
        """The current index of an agent (cached while its files are unchanged). An index whose
        file cannot be trusted is reported ``damaged`` and used as no index at all (searches
        score every passage exactly, and the next catch-up rebuilds it from the table)."""
        stamp = self._stamp(agent_id)
        if stamp is None:
            return IndexState(None, 0, 0)
        cached = self._cached(agent_id, stamp)
        if cached is not None:
            return cached
        index_path = self._index_path(agent_id)
        meta = self._read_meta(self._meta_path(agent_id))
        if meta is None:
            return IndexState(None, 0, 0)
        if not index_path.exists():
            return IndexState(None, 0, 0, damaged=True)
        index = _restore(index_path, view=True, expected=int(meta["indexed"]))
        if index is None:
            return IndexState(None, 0, 0, damaged=True)
        return self._remember(agent_id, stamp, IndexState(index, int(meta["watermark"]), int(meta["indexed"])))

    def search(self, state: IndexState, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        """(seq, cosine distance) of the nearest indexed passages, nearest first."""
        import numpy as np

        if state.index is None or state.indexed == 0 or count <= 0:
            return []
        matches = state.index.search(query.astype(np.float32), min(count, len(state.index)))
        return [(int(key), float(distance)) for key, distance in zip(matches.keys, matches.distances)]

    def catch_up(self, agent_id: str, *, live_indexed: Callable[[int], int],
                 read_vectors: Callable[[int], tuple[np.ndarray, np.ndarray]]) -> IndexState:
        """Bring an agent's index up to date. Safe to call from several processes.

        The table is read before this agent's lock is taken, never while holding it: if a
        holder waited for the database, a search holding the database while it waits for this
        lock, and a writer queued between them, would wait for each other for ever. What
        changed in between is sorted out under the lock (vectors already indexed are skipped;
        an index rebuilt or lost meanwhile means reading again)."""
        import numpy as np

        index_path = self._index_path(agent_id)
        damaged = False
        while True:
            seen = self._read_meta(self._meta_path(agent_id)) if index_path.exists() else None
            start = int(seen["watermark"]) if seen else 0
            indexed = int(seen["indexed"]) if seen else 0
            rebuild = damaged or seen is None or bool(
                indexed and live_indexed(start) < indexed * (1 - REBUILD_DELETED_SHARE))
            if rebuild:
                start = 0
            seqs, vectors = read_vectors(start)
            with self._locked(agent_id) as meta_path:
                meta = self._read_meta(meta_path) if index_path.exists() else None
                if rebuild:
                    # The width of the agent's vectors (its model's); an empty index gets the
                    # default's and is rebuilt if the first vectors it is given differ.
                    index, watermark, indexed = _new_index(vectors.shape[1] if len(seqs) else EMBEDDING_DIM), 0, 0
                else:
                    if meta is None or int(meta["watermark"]) < start:
                        continue  # rebuilt or lost since it was read: read again
                    watermark, indexed = int(meta["watermark"]), int(meta["indexed"])
                    newer = seqs > watermark  # another process may have indexed some meanwhile
                    seqs, vectors = seqs[newer], vectors[newer]
                    if len(seqs) == 0 and not self.state(agent_id).damaged:
                        return self.state(agent_id)  # nothing new: no need to load the graph
                    index = _restore(index_path, view=False, expected=indexed)
                    if index is not None and len(seqs) and index.ndim != vectors.shape[1]:
                        index = None  # the agent moved to a model of another width: start again
                    if index is None:  # damaged: never extended, rebuilt whole from the table
                        damaged = True
                        continue
                if len(seqs):
                    index.add(seqs.astype(np.uint64), vectors.astype(np.float32), threads=os.cpu_count() or 1)
                    watermark = int(seqs.max())
                    indexed += len(seqs)
                self._atomic(index_path, index.save)
                self._write_meta(meta_path, watermark=watermark, indexed=indexed)
            return self.state(agent_id)

    def drop(self, agent_id: str) -> None:
        self._index_path(agent_id).unlink(missing_ok=True)
        self._drop_files(agent_id)
