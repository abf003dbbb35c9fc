"""Keeping an agent's two sidecar indexes (vector_index.py, text_index.py) in step with its
passages on DuckDB: catching them up after writes, rebuilding them, and fetching passages by
seq the fast way. Search (passage_search.py) and writes (passages.py) build on this."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from memos.store.base import Passage
from memos.store.duckdb import vector_index
from memos.store.duckdb.background import BackgroundUpkeep
from memos.store.duckdb.text_index import IndexedPassage, TextIndexes, TextIndexState
from memos.store.duckdb.vector_index import IndexState, VectorIndexes
from memos.store.sql import rows
from memos.store.sql.host import SQLHost
from memos.store.text import terms as passage_terms
from memos.store.timeutil import to_db

if TYPE_CHECKING:  # numpy is imported where vectors are used: most commands never do
    import numpy as np

log = logging.getLogger(__name__)


def micros(moment: datetime) -> int:
    """A time as the text index keeps it: microseconds since the epoch, UTC (stored times are
    naive UTC, a query's may be aware)."""
    return (to_db(moment) - datetime(1970, 1, 1)) // timedelta(microseconds=1)


class IndexUpkeepMixin(SQLHost):
    _vectors: VectorIndexes  # the usearch sidecar, one index per agent
    _texts: TextIndexes  # the tantivy sidecar, one index per agent
    _upkeep: BackgroundUpkeep | None = None  # set in a long-lived process: indexes caught up just after writes

    def defer_index_upkeep(self) -> None:
        if self._upkeep is None:
            self._upkeep = BackgroundUpkeep(self._indexes_after_write)

    def wait_for_index_upkeep(self, timeout: float = 30.0) -> bool:
        return self._upkeep.wait_idle(timeout) if self._upkeep is not None else True

    def _indexes_after_write(self, agent_id: str) -> None:
        """After a commit that added passages (at once, or from the background thread): the text
        index caught up, and the vector index once its tail passes TAIL_LIMIT. The passages are
        saved whatever happens here: a failure is logged and left to the next search (reporting
        the write as failed would make a caller retry it and store the passages twice)."""
        self._text_index_after_write(agent_id)
        try:
            watermark = self._vectors.state(agent_id).watermark
            with self._read() as con:
                tail = self._tail_count(con, agent_id, watermark)
            if tail > vector_index.TAIL_LIMIT:  # (read here, so a test's smaller limit holds)
                self.rebuild_vector_index(agent_id)
        except Exception as exc:
            log.warning("vector index of %s not updated (%s); the next search updates it", agent_id, exc)

    # -- text index upkeep (text_index.py) ----------------------------------------------
    def _indexed_passages(self, where: str, params: list[Any]) -> list[IndexedPassage]:
        with self._read() as con:
            found = con.execute(f"SELECT seq, text, tags, created_at FROM passages WHERE {where} ORDER BY seq",
                                params).fetchall()
        return [IndexedPassage(seq, passage_terms(text), list(tags or []), micros(created)) for seq, text, tags, created in found]

    def _catch_up_text_index(self, agent_id: str, *, rebuild: bool = False) -> TextIndexState:
        return self._texts.catch_up(
            agent_id, lambda watermark: self._indexed_passages("agent_id = ? AND seq > ?", [agent_id, watermark]),
            rebuild=rebuild)

    def rebuild_text_index(self, agent_id: str) -> TextIndexState:
        """Build the agent's text index again from its passages (``memos doctor``)."""
        return self._catch_up_text_index(agent_id, rebuild=True)

    def _text_index_after_write(self, agent_id: str, removed: Sequence[int] = ()) -> None:
        """After a commit that added or removed passages. A failure here loses nothing: the
        next search sees the index behind the table and brings it up to date."""
        try:
            if removed:
                self._texts.remove(agent_id, removed)
            else:
                self._catch_up_text_index(agent_id)
        except Exception as exc:  # the passages are committed; only the derived index lags
            log.warning("text index of %s not updated (%s); the next search updates it", agent_id, exc)

    # -- vector index upkeep ------------------------------------------------------
    def _tail_count(self, con: Any, agent_id: str, watermark: int) -> int:
        return int(con.execute("SELECT count(*) FROM passages WHERE agent_id = ? AND seq > ?",
                               [agent_id, watermark]).fetchone()[0])

    def rebuild_vector_index(self, agent_id: str) -> IndexState:
        """Bring the agent's vector index up to date now (normally done in batches by itself)."""

        def live_indexed(watermark: int) -> int:
            with self._read() as con:
                return int(con.execute("SELECT count(*) FROM passages WHERE agent_id = ? AND seq <= ?",
                                       [agent_id, watermark]).fetchone()[0])

        def read_vectors(watermark: int) -> tuple[np.ndarray, np.ndarray]:
            import numpy as np

            with self._read() as con:
                found = con.execute(
                    "SELECT seq, embedding FROM passages WHERE agent_id = ? AND seq > ? ORDER BY seq",
                    [agent_id, watermark]).fetchnumpy()
            seqs = np.asarray(found["seq"], dtype=np.int64)
            # One width per agent (its model's; sql/passages.check_width keeps it so): rows stack.
            vectors = np.stack(found["embedding"]).astype(np.float32, copy=False) if len(seqs) else np.zeros((0, 0))
            return seqs, vectors

        return self._vectors.catch_up(agent_id, live_indexed=live_indexed,
                                      read_vectors=read_vectors)

    # -- rows ----------------------------------------------------------------------
    def _rows_by_seq(self, con: Any, seqs: Sequence[int]) -> dict[int, Passage]:
        """Passages by seq through the ART index: a literal IN list of ints and nothing else,
        or DuckDB scans the whole table (measured: 0.9 ms against 9 ms at 100k)."""
        if not seqs:
            return {}
        listed = ",".join(str(int(seq)) for seq in seqs)
        return {r[0]: rows.passage(r[1:]) for r in con.execute(
            f"SELECT seq, {rows.PASSAGE_COLUMNS} FROM passages WHERE seq IN ({listed})").fetchall()}

