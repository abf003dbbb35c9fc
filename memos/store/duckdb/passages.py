"""Archival memory on DuckDB: writing passages, keeping the sidecar indexes in step, and
checking them (``memos doctor``); the search itself is in passage_search.py."""

from __future__ import annotations

from collections.abc import Sequence

from memos.errors import NotFound
from memos.paths import on_read_only_mount
from memos.store import ids
from memos.store.base import Finding, NewPassage, Passage, PassageStats
from memos.store.duckdb.bulk_insert import insert_rows
from memos.store.duckdb.passage_search import PassageSearchMixin
from memos.store.duckdb.vector_index import TAIL_LIMIT
from memos.store.search import check_embeddings
from memos.store.sql.passages import PASSAGE_TABLES, PassageLookups, check_width, passage_stats
from memos.store.timeutil import from_db, to_db, utcnow


class PassagesMixin(PassageSearchMixin, PassageLookups):
    # -- writes ------------------------------------------------------------------
    def insert_passages(self, agent_id: str, passages: Sequence[NewPassage], batch: int | None = None) -> list[Passage]:
        if not passages:
            return []
        matrix = check_embeddings(passages)
        now = utcnow()
        width = matrix.shape[1]
        memo = self._db.memo  # (what the last insert here learned: the agent's width, the next seq)
        with self._write() as con:
            tails = memo.kept(("tail", agent_id))  # what searches score exactly, carried past the insert
            model = self._passage_model(con, agent_id)
            if memo.known(("width", agent_id)) != width:
                check_width(con, agent_id, model, width)
            first = memo.read(("next passage seq",), PASSAGE_TABLES, lambda: con.execute(
                "SELECT coalesce(max(seq), 0) + 1 FROM passages").fetchone()[0])
            values = [(ids.new_id("passage"), agent_id, first + i, p.text, sorted(set(p.tags)), vector, model,
                       to_db(p.created_at or now), batch) for i, (p, vector) in enumerate(zip(passages, matrix))]
            insert_rows(con, "passages",
                        ("id", "agent_id", "seq", "text", "tags", "embedding", "embedding_model", "created_at", "batch"),
                        values)
            memo.put(("width", agent_id), PASSAGE_TABLES, width)
            memo.put(("next passage seq",), PASSAGE_TABLES, first + len(values))
            for key, tail in tails.items():
                extended = tail.extended([row[2] for row in values], matrix)
                if extended is not None:
                    memo.put(key, PASSAGE_TABLES, extended)
            upkeep = self._upkeep  # set in a long-lived process: just after the request (background.py)
            self._db.after_commit(lambda: upkeep.request(agent_id) if upkeep is not None
                                  else self._indexes_after_write(agent_id), once=f"indexes:{agent_id}")
        # The records as stored, built here rather than read back
        return [Passage(id=row[0], agent_id=agent_id, text=row[3], tags=row[4], created_at=from_db(row[7]))
                for row in values]

    def delete_passages(self, agent_id: str, passage_ids: Sequence[str]) -> int:
        with self._write() as con:
            found = con.execute(
                "SELECT id, seq FROM passages WHERE agent_id = $agent AND id IN (SELECT unnest($ids::VARCHAR[]))",
                {"agent": agent_id, "ids": list(passage_ids)}).fetchall()
            missing = sorted(set(passage_ids) - {row[0] for row in found})
            if missing:
                raise NotFound(f"no passage '{missing[0]}' for this agent", "see `memos archival list`")
            seqs = [row[1] for row in found]
            con.execute("DELETE FROM passages WHERE seq IN (SELECT unnest($s::BIGINT[]))", {"s": seqs})
            self._db.after_commit(lambda: self._text_index_after_write(agent_id, removed=seqs))
            return len(found)

    # -- doctor ---------------------------------------------------------------------
    def _check_indexes(self, agent_id: str, *, repair: bool) -> list[Finding]:
        """The text and vector sidecars against the passages."""
        with self._read() as con:
            table = {r[0] for r in con.execute("SELECT seq FROM passages WHERE agent_id = ?", [agent_id]).fetchall()}
        live = len(table)
        text_state = self._texts.state(agent_id, cached=False)
        indexed = self._texts.seqs(text_state.searcher()) if text_state.index is not None else set()
        text = Finding("text index", "ok")
        if text_state.index is None and live and on_read_only_mount(self._texts.directory):
            # tantivy cannot open an index without writing its lock file: searches build one in memory
            text = Finding("text index", "ok", "not opened on a read-only file system; searches index in memory")
        elif (text_state.index is None and live) or indexed != table:
            detail = f"{len(table - indexed)} passages missing from the text index, {len(indexed - table)} stale entries"
            if repair:
                self.rebuild_text_index(agent_id)
            text = Finding("text index", "repaired" if repair else "problem", detail)
        state = self._vectors.state(agent_id)
        behind = live - state.indexed if state.index is not None else live
        vector = Finding("vector index", "ok")
        # Up to TAIL_LIMIT passages past the index are by design (searches score them exactly);
        # a problem is an index file that cannot be trusted, or a tail longer than that.
        if state.damaged or behind > TAIL_LIMIT:
            detail = (f"the index file is unreadable or does not match its meta ({live} passages to index again)"
                      if state.damaged else f"{behind} of {live} passages not in the vector index")
            if repair:
                self.rebuild_vector_index(agent_id)
            vector = Finding("vector index", "repaired" if repair else "problem", detail)
        return [text, vector]

    # -- reads ---------------------------------------------------------------------
    def passage_stats(self, agent_id: str) -> PassageStats:
        watermark = self._vectors.state(agent_id).watermark
        with self._read() as con:
            return passage_stats(con, agent_id, watermark)
