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
(watermark, counts, store id). The graph is written before the JSON, both
by atomic rename, so a reader never sees a watermark ahead of its graph.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from memos.store.base import EMBEDDING_DIM

TAIL_LIMIT = 2048
# Rebuild from scratch once this share of the indexed passages has been deleted.
REBUILD_DELETED_SHARE = 0.25


@dataclass(frozen=True)
class IndexState:
    index: Any | None  # usearch Index (a read-only memory map) or None
    watermark: int
    indexed: int


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def _new_index() -> Any:
    from usearch.index import Index

    # connectivity/expansion chosen for recall@10 >= 0.98 on MiniLM embeddings (bench/).
    return Index(ndim=EMBEDDING_DIM, metric="cos", dtype="f32", connectivity=16,
                 expansion_add=128, expansion_search=96)


class VectorIndexes:
    def __init__(self, directory: Path, store_id: str) -> None:
        self.directory = directory
        self.store_id = store_id
        self._cache: dict[str, tuple[tuple[int, int], IndexState]] = {}
        self._lock = threading.Lock()

    def _paths(self, agent_id: str) -> tuple[Path, Path, Path]:
        base = self.directory / agent_id
        return base.with_suffix(".usearch"), base.with_suffix(".json"), base.with_suffix(".lock")

    def _read_meta(self, meta_path: Path) -> dict[str, Any] | None:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return meta if meta.get("store_id") == self.store_id else None

    def state(self, agent_id: str) -> IndexState:
        """The current index of an agent (cached while its files are unchanged)."""
        index_path, meta_path, _ = self._paths(agent_id)
        try:
            stat = meta_path.stat()
        except FileNotFoundError:
            return IndexState(None, 0, 0)
        key = (stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            cached = self._cache.get(agent_id)
            if cached and cached[0] == key:
                return cached[1]
        meta = self._read_meta(meta_path)
        if meta is None or not index_path.exists():
            return IndexState(None, 0, 0)
        from usearch.index import Index

        try:
            index = Index.restore(str(index_path), view=True)
        except Exception:
            return IndexState(None, 0, 0)  # unreadable: treat as absent, it gets rebuilt
        state = IndexState(index, int(meta["watermark"]), int(meta["indexed"]))
        with self._lock:
            self._cache[agent_id] = (key, state)
        return state

    def search(self, state: IndexState, query: np.ndarray, count: int) -> list[tuple[int, float]]:
        """(seq, cosine distance) of the nearest indexed passages, nearest first."""
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
        self.directory.mkdir(parents=True, exist_ok=True)
        index_path, meta_path, lock_path = self._paths(agent_id)
        while True:
            seen = self._read_meta(meta_path) if index_path.exists() else None
            start = int(seen["watermark"]) if seen else 0
            indexed = int(seen["indexed"]) if seen else 0
            rebuild = seen is None or bool(
                indexed and live_indexed(start) < indexed * (1 - REBUILD_DELETED_SHARE))
            if rebuild:
                start = 0
            seqs, vectors = read_vectors(start)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                meta = self._read_meta(meta_path) if index_path.exists() else None
                if rebuild:
                    index, watermark, indexed = _new_index(), 0, 0
                else:
                    if meta is None or int(meta["watermark"]) < start:
                        continue  # rebuilt or lost since it was read: read again
                    from usearch.index import Index

                    index = Index.restore(str(index_path), view=False)
                    watermark, indexed = int(meta["watermark"]), int(meta["indexed"])
                    newer = seqs > watermark  # another process may have indexed some meanwhile
                    seqs, vectors = seqs[newer], vectors[newer]
                    if len(seqs) == 0:
                        return self.state(agent_id)
                if len(seqs):
                    index.add(seqs.astype(np.uint64), vectors.astype(np.float32), threads=os.cpu_count() or 1)
                    watermark = int(seqs.max())
                    indexed += len(seqs)
                self._atomic(index_path, index.save)
                meta_text = json.dumps({"store_id": self.store_id, "watermark": watermark, "indexed": indexed})
                self._atomic(meta_path, partial(_write_text, text=meta_text))
            finally:
                os.close(fd)  # releases the flock
            return self.state(agent_id)

    def drop(self, agent_id: str) -> None:
        for path in self._paths(agent_id):
            path.unlink(missing_ok=True)
        with self._lock:
            self._cache.pop(agent_id, None)

    @staticmethod
    def _atomic(target: Path, write: Callable[[str], Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
