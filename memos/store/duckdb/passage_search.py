"""Archival search on DuckDB: vector (usearch sidecar + the unindexed tail in SQL), text (BM25
from the tantivy sidecar) and hybrid (score fusion, store/search.py).

A search first asks the table one question (``_freshness``): how many of the agent's passages
each sidecar covers and how many came after it. That tells whether the text index must catch
up (a process died between a commit and its index write), whether the vector graph's tail is
too long, and whether any graph passage was deleted since; when none was, graph candidates need
no check against the table, and a hybrid search costs two statements: this one and fetching
the page. At 100k passages: vector p50 3.8 ms, text 2.8 ms, hybrid ~7 ms (bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memos.errors import InvalidInput, storage_problem
from memos.store.base import Passage, PassageHit, PassageQuery
from memos.store.duckdb.index_upkeep import IndexUpkeepMixin, micros
from memos.store.duckdb.text_index import Filters, IndexedPassage, TextIndexState
from memos.store.duckdb.vector_index import TAIL_LIMIT, IndexState
from memos.store.search import (
    HYBRID_DEPTH,
    PRF_DOCS,
    common_terms,
    expansion_terms,
    fuse_scores,
    mode_explain,
    passes_filters,
    query_vector,
    vector_literal,
    with_feedback,
)
from memos.store.sql.passages import PASSAGE_TABLES, passage_batches, passage_filters
from memos.store.text import BM25_K1, idf, query_terms

if TYPE_CHECKING:  # numpy is imported where vectors are used: most commands never do
    import numpy as np


@dataclass(frozen=True)
class TailVectors:
    """The passages past the vector index, in seq order, as unit rows (cosine is a dot product)."""

    seqs: np.ndarray  # int64
    unit: np.ndarray  # float32, one row per seq; (0, 0) when there are none

    def extended(self, seqs: Sequence[int], vectors: np.ndarray) -> TailVectors | None:
        """With newly inserted passages at the end (None: of another width, read it again)."""
        import numpy as np

        if len(self.seqs) and self.unit.shape[1] != vectors.shape[1]:
            return None
        unit = unit_rows(vectors.astype(np.float32))
        return TailVectors(np.concatenate([self.seqs, np.asarray(seqs, dtype=np.int64)]),
                           np.concatenate([self.unit, unit]) if len(self.seqs) else unit)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero, as its cosine is 0)."""
    import numpy as np

    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


@dataclass(frozen=True)
class Freshness:
    """How the agent's sidecars stand against its passages, from one count over the table."""

    vectors: IndexState
    vector_tail: int  # passages past the graph's watermark (scored exactly in SQL)
    vector_intact: bool  # no passage in the graph was deleted since it was written
    texts: TextIndexState
    text_covered: int  # passages up to the text index's watermark
    text_tail: int  # passages past it


class PassageSearchMixin(IndexUpkeepMixin):
    def search_passages(self, agent_id: str, query: PassageQuery) -> list[PassageHit]:
        if query.top_k <= 0:
            return []
        needed = query.top_k + query.offset
        if query.mode not in ("vector", "text", "hybrid"):
            raise InvalidInput(f"unknown search mode '{query.mode}'", "use vector, text or hybrid")
        # One read session for the whole search: each DuckDB open costs milliseconds.
        with self._read() as con:
            fresh = self._freshness(con, agent_id)
            rows: dict[int, Passage] = {}
            if query.mode == "hybrid":
                ranked, explained = self._hybrid_ranking(con, agent_id, fresh, query, needed, rows)
            elif query.mode == "vector":
                ranked = self._vector_ranking(con, agent_id, fresh, query, needed, rows)
                explained = mode_explain("vector", ranked)
            else:
                searcher = self._fresh_text_index(con, agent_id, fresh).searcher()
                ranked = self._text_search(searcher, query, needed, scaled=False)[0]
                explained = mode_explain("text", ranked)
            page = ranked[query.offset:needed]
            missing = [seq for seq, _ in page if seq not in rows]
            by_seq = {**rows, **(self._rows_by_seq(con, missing) if missing else {})}
        return [PassageHit(by_seq[seq], score, explained.get(seq)) for seq, score in page if seq in by_seq]

    # -- keeping the sidecars honest ---------------------------------------------------
    def _freshness(self, con: Any, agent_id: str) -> Freshness:
        vectors, texts = self._vectors.state(agent_id), self._texts.state(agent_id)
        key = ("freshness", agent_id, vectors.watermark, texts.watermark)  # true until passages change
        vector_tail, vector_live, text_covered, text_tail = self._db.memo.read(key, PASSAGE_TABLES, lambda: con.execute(
            "SELECT count(*) FILTER (WHERE seq > $vw), count(*) FILTER (WHERE seq <= $vw), "
            "count(*) FILTER (WHERE seq <= $tw), count(*) FILTER (WHERE seq > $tw) "
            "FROM passages WHERE agent_id = $agent",
            {"vw": vectors.watermark, "tw": texts.watermark, "agent": agent_id}).fetchone())
        return Freshness(vectors, int(vector_tail), vectors.index is not None and vector_live == vectors.indexed,
                         texts, int(text_covered), int(text_tail))

    def _fresh_text_index(self, con: Any, agent_id: str, fresh: Freshness) -> TextIndexState:
        """The agent's text index, first brought in step with the table if it is not: passages
        past its watermark (a process died after its insert's commit), a count that differs
        (one died after a delete's), or no index yet."""
        state = fresh.texts
        if state.index is None or fresh.text_tail:
            try:
                state = self._catch_up_text_index(agent_id)
            except OSError as exc:
                if storage_problem(exc) is None:
                    raise
                # A read-only home (or a full disk): search an index built in memory instead.
                return self._texts.in_memory(self._indexed_passages("agent_id = ? AND seq > ?", [agent_id, -1]))
        if state.index is not None and state.searcher().num_docs != fresh.text_covered + fresh.text_tail:

            def read_seqs(watermark: int) -> set[int]:
                return {r[0] for r in con.execute("SELECT seq FROM passages WHERE agent_id = ? AND seq <= ?",
                                                  [agent_id, watermark]).fetchall()}

            def read_some(seqs: Sequence[int]) -> list[IndexedPassage]:
                listed = ",".join(str(int(seq)) for seq in seqs) or "NULL"
                return self._indexed_passages(f"seq IN ({listed})", [])

            state = self._texts.reconcile(agent_id, read_seqs, read_some)
        return state

    # -- vector --------------------------------------------------------------------
    def _vector_ranking(self, con: Any, agent_id: str, fresh: Freshness, query: PassageQuery, needed: int,
                        found_rows: dict[int, Passage]) -> list[tuple[int, float]]:
        vector = query_vector(query)
        state = fresh.vectors
        where, params = passage_filters(agent_id, query.tags, query.tag_match, query.start, query.end, alias="")
        params.update(q=vector_literal(vector), limit=needed)
        exact_sql = (f"SELECT seq, list_cosine_similarity(embedding, $q::VARCHAR::FLOAT[]) AS score "
                     f"FROM passages WHERE {where} AND seq > $wm ORDER BY score DESC, seq DESC LIMIT $limit")
        tail, intact = fresh.vector_tail, fresh.vector_intact
        if tail > TAIL_LIMIT:
            # A long tail (index files lost, or a crash before catch-up): index it, then use it.
            state = self.rebuild_vector_index(agent_id)
            tail = self._tail_count(con, agent_id, state.watermark)
            intact = False  # not worth a second count: check the candidates instead
        ranked: list[tuple[int, float]] = []
        filtered = bool(query.tags or query.start or query.end)
        scored = self._tail_ranking(con, agent_id, state.watermark, vector, needed) if tail and not filtered else None
        if scored is not None:
            ranked = scored
        elif tail:
            # The unindexed tail, scored exactly.
            params["wm"] = state.watermark
            ranked = [(r[0], float(r[1])) for r in con.execute(exact_sql, params).fetchall()]
        if state.index is None:
            return ranked
        if intact and not filtered:
            # Every graph passage is the agent's and still there: no need to look them up.
            ranked += [(seq, 1.0 - distance) for seq, distance in self._vectors.search(state, vector, needed)]
        else:
            # Over-fetch so that filters and deletions leave enough, then check the few rows.
            candidates = self._vectors.search(state, vector, needed * (20 if filtered else 4) + 32)
            fetched = self._rows_by_seq(con, [seq for seq, _ in candidates])
            for seq, distance in candidates:
                passage = fetched.get(seq)
                if passage is not None and passes_filters(passage, agent_id, query):
                    found_rows[seq] = passage
                    ranked.append((seq, 1.0 - distance))
        ranked.sort(key=lambda item: (-item[1], -item[0]))
        if len(ranked) < needed:
            # Filters or deletions thinned the candidates (or the agent has fewer passages than
            # asked for): an exact scan is still right.
            params["wm"] = -1
            ranked = [(r[0], float(r[1])) for r in con.execute(exact_sql, params).fetchall()]
        return ranked[:needed]

    def _tail(self, con: Any, agent_id: str, watermark: int) -> TailVectors:
        """The passages past the vector index's watermark, remembered while no other process
        writes (ConnectionMemo) and carried forward by insert_passages: the tail a search scores
        exactly, with one matrix product rather than a scan of the table."""
        import numpy as np

        def load() -> TailVectors:
            found = con.execute("SELECT seq, embedding FROM passages WHERE agent_id = ? AND seq > ? ORDER BY seq",
                                [agent_id, watermark]).fetchnumpy()
            seqs = np.asarray(found["seq"], dtype=np.int64)
            if not len(seqs):
                return TailVectors(seqs, np.zeros((0, 0), dtype=np.float32))
            return TailVectors(seqs, unit_rows(np.stack(found["embedding"]).astype(np.float32)))

        key = ("tail", agent_id, watermark)
        for older in self._db.memo.kept(("tail", agent_id)):
            if older != key:  # the index caught up since: that tail is no longer asked for
                self._db.memo.forget(older)
        return self._db.memo.read(key, PASSAGE_TABLES, load)

    def _tail_ranking(self, con: Any, agent_id: str, watermark: int, vector: np.ndarray,
                      needed: int) -> list[tuple[int, float]] | None:
        """The tail's top ``needed`` by cosine, ties to the newer passage (as the exact SQL
        orders); None when the remembered tail cannot answer (then SQL does)."""
        import numpy as np

        tail = self._tail(con, agent_id, watermark)
        if not len(tail.seqs) or tail.unit.shape[1] != vector.shape[0]:
            return None
        scores = tail.unit @ unit_rows(vector.reshape(1, -1).astype(np.float32))[0]
        best = np.lexsort((-tail.seqs, -scores))[:needed]
        return [(int(tail.seqs[i]), float(scores[i])) for i in best]

    def _vector_scores(self, con: Any, fresh: Freshness, vector: np.ndarray, seqs: Sequence[int]) -> dict[int, float]:
        """Exact cosines of these passages (a hybrid's text candidates the vector search did not
        return): from the graph's stored vectors where it has them, else from the table."""
        import numpy as np

        if not seqs:
            return {}
        scores: dict[int, float] = {}
        rest = list(seqs)
        index = fresh.vectors.index
        if index is not None:
            stored = index.get(np.asarray(seqs, dtype=np.uint64))
            rest = []
            norm = float(np.linalg.norm(vector)) or 1.0
            for seq, found in zip(seqs, stored):
                if found is None:
                    rest.append(seq)
                else:
                    scores[seq] = float(np.dot(found, vector) / ((float(np.linalg.norm(found)) or 1.0) * norm))
        if rest:
            listed = ",".join(str(int(seq)) for seq in rest)
            scores.update((r[0], float(r[1])) for r in con.execute(
                f"SELECT seq, list_cosine_similarity(embedding, $q::VARCHAR::FLOAT[]) FROM passages "
                f"WHERE seq IN ({listed})", {"q": vector_literal(vector)}).fetchall())
        return scores

    # -- text ----------------------------------------------------------------------
    def _text_search(self, searcher: Any, query: PassageQuery, needed: int, also: Sequence[int] = (),
                     scaled: bool = True, terms: list[str] | None = None
                     ) -> tuple[list[tuple[int, float]], dict[int, float], float]:
        """BM25 from the agent's text index: the top ``needed`` (seq, score) among the passages
        passing the filters; the scores of the passages in ``also`` (a hybrid's vector
        candidates) wherever they rank; and the most a passage could score for these terms
        (each term's IDF times k1 + 1), what a hybrid divides text scores by. A term no passage
        has counts there with the IDF of df = 0: passages lacking some of the query's words are
        a weaker text match, so a word in every passage ("user") cannot make a text share large
        on its own (docs/design.md). ``terms`` replaces the query's own (a hybrid's feedback
        terms)."""
        if terms is None:
            if not query.text or not query.text.strip():
                raise InvalidInput("a text search needs query text")
            terms = query_terms(query.text)
        if not terms:
            return [], {}, 0.0
        filters = Filters(tuple(query.tags), query.tag_match == "all",
                          None if query.start is None else micros(query.start),
                          None if query.end is None else micros(query.end))
        top = self._texts.top(searcher, terms, needed, filters)
        listed = {seq for seq, _ in top}
        extra = self._texts.scores_of(searcher, terms, [seq for seq in also if seq not in listed])
        if not scaled:
            return top, extra, 0.0
        frequencies = self._texts.document_frequencies(searcher, terms)
        total = int(searcher.num_docs)
        return top, extra, sum(idf(frequencies[term], total) for term in terms) * (BM25_K1 + 1)

    def _feedback_terms(self, searcher: Any, top: list[int], original: list[str]) -> list[str]:
        """The feedback terms of a hybrid search: the top text hits' terms (as the index holds
        them) and how many of the agent's passages have each."""
        counts = list(self._texts.terms_of(searcher, top).values())
        frequencies = self._texts.document_frequencies(searcher, {term for c in counts for term in c})
        return expansion_terms(counts, original, frequencies, int(searcher.num_docs))

    # -- hybrid --------------------------------------------------------------------
    def _hybrid_ranking(self, con: Any, agent_id: str, fresh: Freshness, query: PassageQuery, needed: int,
                        found_rows: dict[int, Passage]) -> tuple[list[tuple[int, float]], dict[int, dict[str, Any]]]:
        depth = max(HYBRID_DEPTH, needed * 2)
        vector = self._vector_ranking(con, agent_id, fresh, query, depth, found_rows)
        text: list[tuple[int, float]] = []
        text_extra: dict[int, float] = {}
        vector_extra: dict[int, float] = {}
        scale = 0.0
        expanded: list[str] = []
        terms = query_terms(query.text) if query.text else []
        searcher = self._fresh_text_index(con, agent_id, fresh).searcher() if terms else None
        if searcher is not None:
            common = common_terms(self._texts.document_frequencies(searcher, terms), int(searcher.num_docs))
            terms = [term for term in terms if term not in common]
        if searcher is not None and terms:
            text, text_extra, scale = self._text_search(searcher, query, depth, also=[seq for seq, _ in vector],
                                                        terms=terms)
            expanded = self._feedback_terms(searcher, [seq for seq, _ in text[:PRF_DOCS]], terms)
            if expanded:
                candidates = sorted({seq for seq, _ in text} | {seq for seq, _ in vector})
                _, feedback, _ = self._text_search(searcher, query, 0, also=candidates, scaled=False, terms=expanded)
                text, text_extra = with_feedback(text, text_extra, feedback, scale)
            in_vector = {seq for seq, _ in vector}
            vector_extra = self._vector_scores(con, fresh, query_vector(query),
                                               [s for s, _ in text if s not in in_vector])
        return fuse_scores(vector, text, scale, vector_extra, text_extra, needed, expanded,
                           lambda seqs: passage_batches(con, seqs))
