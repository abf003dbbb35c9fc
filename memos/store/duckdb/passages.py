"""Archival memory: passages with embeddings; vector, text (BM25) and hybrid (score fusion) search."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from memos.errors import InvalidInput, NotFound
from memos.store import ids
from memos.store.base import (
    EMBEDDING_DIM,
    Finding,
    NewPassage,
    Passage,
    PassageHit,
    PassageQuery,
    PassageStats,
)
from memos.store.duckdb.arrow_insert import insert_from_arrow
from memos.store.duckdb.vector_index import TAIL_LIMIT, IndexState, VectorIndexes
from memos.store.search import (
    HYBRID_DEPTH,
    PRF_DOCS,
    check_embeddings,
    expansion_terms,
    fuse_scores,
    mode_explain,
    passes_filters,
    query_vector,
    vector_literal,
    with_feedback,
)
from memos.store.sql import rows
from memos.store.sql.passages import PassageLookups, passage_filters, passage_stats
from memos.store.text import BM25_B, BM25_K1, idf, query_terms, term_counts
from memos.store.timeutil import to_db, utcnow


class PassagesMixin(PassageLookups):
    _vectors: VectorIndexes  # the usearch sidecar, one index per agent (vector_index.py)

    # -- writes ------------------------------------------------------------------
    def insert_passages(self, agent_id: str, passages: Sequence[NewPassage]) -> list[Passage]:
        import pyarrow as pa

        if not passages:
            return []
        matrix = check_embeddings(passages)
        now = utcnow()
        counts = [term_counts(p.text) for p in passages]
        with self._write() as con:
            model = self._agent_row(con, agent_id).embedding_model
            first = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM passages").fetchone()[0]
            seqs = list(range(first, first + len(passages)))
            new_ids = [ids.new_id("passage") for _ in passages]
            flat = pa.array(matrix.reshape(-1), type=pa.float32())
            table = pa.table({
                "id": new_ids,
                "agent_id": [agent_id] * len(passages),
                "seq": pa.array(seqs, type=pa.int64()),
                "text": [p.text for p in passages],
                "tags": pa.array([sorted(set(p.tags)) for p in passages], type=pa.list_(pa.string())),
                "embedding": pa.FixedSizeListArray.from_arrays(flat, EMBEDDING_DIM),
                "embedding_model": [model] * len(passages),
                "created_at": [to_db(p.created_at or now) for p in passages],
                "n_terms": pa.array([sum(c.values()) for c in counts], type=pa.int32()),
            })
            insert_from_arrow(
                con, table, "new_passages",
                "INSERT INTO passages (id, agent_id, seq, text, tags, embedding, embedding_model, created_at, n_terms) "
                "SELECT id, agent_id, seq, text, tags, embedding::FLOAT[384], embedding_model, created_at, n_terms "
                "FROM new_passages")
            del table
            terms = [(seq, term, tf) for seq, c in zip(seqs, counts) for term, tf in c.items()]
            if terms:
                term_table = pa.table({
                    "agent_id": [agent_id] * len(terms),
                    "seq": pa.array([t[0] for t in terms], type=pa.int64()),
                    "term": [t[1] for t in terms],
                    "tf": pa.array([t[2] for t in terms], type=pa.int32()),
                })
                insert_from_arrow(con, term_table, "new_terms", "INSERT INTO passage_terms (agent_id, seq, term, tf) "
                                  "SELECT agent_id, seq, term, tf FROM new_terms")
            watermark = self._vectors.state(agent_id).watermark
            if self._tail_count(con, agent_id, watermark) > TAIL_LIMIT:
                self._db.after_commit(lambda: self.rebuild_vector_index(agent_id))
            return self._passages_by_seq(con, seqs)

    def delete_passages(self, agent_id: str, passage_ids: Sequence[str]) -> int:
        with self._write() as con:
            found = con.execute(
                "SELECT id, seq FROM passages WHERE agent_id = $agent AND id IN (SELECT unnest($ids::VARCHAR[]))",
                {"agent": agent_id, "ids": list(passage_ids)}).fetchall()
            missing = sorted(set(passage_ids) - {row[0] for row in found})
            if missing:
                raise NotFound(f"no passage '{missing[0]}' for this agent", "see `memos archival list`")
            seqs = [row[1] for row in found]
            con.execute("DELETE FROM passage_terms WHERE seq IN (SELECT unnest($s::BIGINT[]))", {"s": seqs})
            con.execute("DELETE FROM passages WHERE seq IN (SELECT unnest($s::BIGINT[]))", {"s": seqs})
            return len(found)

    # -- doctor ---------------------------------------------------------------------
    def _check_indexes(self, agent_id: str, *, repair: bool) -> list[Finding]:
        """The term table (text search) and the vector sidecar against the passages."""
        with self._read() as con:
            missing = [r[0] for r in con.execute(
                "SELECT p.seq FROM passages p WHERE p.agent_id = ? AND p.n_terms > 0 AND NOT EXISTS "
                "(SELECT 1 FROM passage_terms t WHERE t.seq = p.seq)", [agent_id]).fetchall()]
            orphans = con.execute(
                "SELECT count(DISTINCT t.seq) FROM passage_terms t WHERE t.agent_id = ? AND NOT EXISTS "
                "(SELECT 1 FROM passages p WHERE p.seq = t.seq)", [agent_id]).fetchone()[0]
            live = con.execute("SELECT count(*) FROM passages WHERE agent_id = ?", [agent_id]).fetchone()[0]
        text = Finding("text index", "ok")
        if missing or orphans:
            detail = f"{len(missing)} passages missing from the term table, {orphans} stale entries"
            if repair:
                with self._write() as con:
                    con.execute("DELETE FROM passage_terms WHERE agent_id = ? AND seq NOT IN "
                                "(SELECT seq FROM passages WHERE agent_id = ?)", [agent_id, agent_id])
                    for seq, body in con.execute("SELECT seq, text FROM passages WHERE seq IN "
                                                 "(SELECT unnest($s::BIGINT[]))", {"s": missing}).fetchall():
                        con.executemany("INSERT INTO passage_terms (agent_id, seq, term, tf) VALUES (?, ?, ?, ?)",
                                        [(agent_id, seq, term, tf) for term, tf in term_counts(body).items()])
            text = Finding("text index", "repaired" if repair else "problem", detail)
        state = self._vectors.state(agent_id)
        behind = live - state.indexed if state.index is not None else live
        vector = Finding("vector index", "ok")
        if state.index is None and live or behind > TAIL_LIMIT:
            detail = f"{behind} of {live} passages not in the vector index"
            if repair:
                self.rebuild_vector_index(agent_id)
            vector = Finding("vector index", "repaired" if repair else "problem", detail)
        return [text, vector]

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
            with self._read() as con:
                table = con.execute(
                    "SELECT seq, embedding FROM passages WHERE agent_id = ? AND seq > ? ORDER BY seq",
                    [agent_id, watermark]).to_arrow_table()
            seqs = table.column("seq").to_numpy()
            flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            return seqs, flat.reshape(-1, EMBEDDING_DIM)

        return self._vectors.catch_up(agent_id, live_indexed=live_indexed,
                                      read_vectors=read_vectors)

    # -- reads ---------------------------------------------------------------------
    def _passages_by_seq(self, con: Any, seqs: Sequence[int]) -> list[Passage]:
        found = self._rows_by_seq(con, seqs)
        return [found[s] for s in seqs if s in found]

    def passage_stats(self, agent_id: str) -> PassageStats:
        watermark = self._vectors.state(agent_id).watermark
        with self._read() as con:
            return passage_stats(con, agent_id, watermark)

    # -- search --------------------------------------------------------------------
    def search_passages(self, agent_id: str, query: PassageQuery) -> list[PassageHit]:
        if query.top_k <= 0:
            return []
        needed = query.top_k + query.offset
        if query.mode not in ("vector", "text", "hybrid"):
            raise InvalidInput(f"unknown search mode '{query.mode}'", "use vector, text or hybrid")
        # One read session for the whole search: each DuckDB open costs milliseconds.
        with self._read() as con:
            rows: dict[int, Passage] = {}
            if query.mode == "hybrid":
                ranked, explained = self._hybrid_ranking(agent_id, query, needed, rows)
            elif query.mode == "vector":
                ranked = self._vector_ranking(agent_id, query, needed, rows)
                explained = mode_explain("vector", ranked)
            else:
                ranked = self._text_ranking(agent_id, query, needed)
                explained = mode_explain("text", ranked)
            page = ranked[query.offset:needed]
            missing = [seq for seq, _ in page if seq not in rows]
            by_seq = {**rows, **(self._rows_by_seq(con, missing) if missing else {})}
        return [PassageHit(by_seq[seq], score, explained.get(seq)) for seq, score in page if seq in by_seq]

    def _rows_by_seq(self, con: Any, seqs: Sequence[int]) -> dict[int, Passage]:
        """Passages by seq through the ART index: a literal IN list of ints and nothing else,
        or DuckDB scans the whole table (measured: 0.9 ms against 9 ms at 100k)."""
        if not seqs:
            return {}
        listed = ",".join(str(int(seq)) for seq in seqs)
        return {r[0]: rows.passage(r[1:]) for r in con.execute(
            f"SELECT seq, {rows.PASSAGE_COLUMNS} FROM passages WHERE seq IN ({listed})").fetchall()}

    def _vector_ranking(self, agent_id: str, query: PassageQuery, needed: int,
                        found_rows: dict[int, Passage]) -> list[tuple[int, float]]:
        vector = query_vector(query)
        state = self._vectors.state(agent_id)
        where, params = passage_filters(agent_id, query.tags, query.tag_match, query.start, query.end, alias="")
        params.update(q=vector_literal(vector), limit=needed)
        exact_sql = (f"SELECT seq, 1 - array_cosine_distance(embedding, $q::VARCHAR::FLOAT[384]) AS score "
                     f"FROM passages WHERE {where} AND seq > $wm ORDER BY score DESC, seq DESC LIMIT $limit")
        with self._read() as con:
            tail = self._tail_count(con, agent_id, state.watermark)
            if tail > TAIL_LIMIT:
                # A long tail (index files lost, or a crash before catch-up): index it, then use it.
                state = self.rebuild_vector_index(agent_id)
                tail = self._tail_count(con, agent_id, state.watermark)
            ranked: list[tuple[int, float]] = []
            if tail:
                # The unindexed tail, scored exactly.
                params["wm"] = state.watermark
                ranked = [(r[0], float(r[1])) for r in con.execute(exact_sql, params).fetchall()]
            if state.index is None:
                return ranked
            # Graph candidates come with exact cosine distances; over-fetch so that filters
            # and deletions leave enough, then check them on the few rows fetched by seq.
            filtered = bool(query.tags or query.start or query.end)
            candidates = self._vectors.search(state, vector, needed * (20 if filtered else 4) + 32)
            fetched = self._rows_by_seq(con, [seq for seq, _ in candidates])
            for seq, distance in candidates:
                passage = fetched.get(seq)
                if passage is not None and passes_filters(passage, agent_id, query):
                    found_rows[seq] = passage
                    ranked.append((seq, 1.0 - distance))
            ranked.sort(key=lambda item: (-item[1], -item[0]))
            if len(ranked) < needed:
                # Filters or deletions thinned the candidates: an exact scan is still right.
                params["wm"] = -1
                ranked = [(r[0], float(r[1])) for r in con.execute(exact_sql, params).fetchall()]
        return ranked[:needed]

    def _text_ranking(self, agent_id: str, query: PassageQuery, needed: int) -> list[tuple[int, float]]:
        return self._text_search(agent_id, query, needed, scaled=False)[0]

    def _text_search(self, agent_id: str, query: PassageQuery, needed: int, also: Sequence[int] = (),
                     scaled: bool = True, terms: list[str] | None = None
                     ) -> tuple[list[tuple[int, float]], dict[int, float], float]:
        """BM25 in one query: the top ``needed`` (seq, score); the scores of the passages in
        ``also`` (a hybrid's vector candidates) wherever they rank; and the most a passage could
        score for these terms (each term's IDF times k1 + 1), what a hybrid divides text scores
        by. A term no passage has counts there with the IDF of df = 0: passages lacking some of
        the query's words are a weaker text match, so a word in every passage ("user") cannot
        make a text share large on its own (docs/design.md). ``terms`` replaces the query's own
        (the feedback terms of a hybrid)."""
        if terms is None:
            if not query.text or not query.text.strip():
                raise InvalidInput("a text search needs query text")
            terms = query_terms(query.text)
        if not terms:
            return [], {}, 0.0
        where, params = passage_filters(agent_id, query.tags, query.tag_match, query.start, query.end)
        params.update(terms=terms, limit=needed, k1=BM25_K1, b=BM25_B)
        if also:  # the top rows and the wanted ones (a literal IN list of ints, as in _rows_by_seq)
            rows = (f"SELECT s.seq, s.score, row_number() OVER (ORDER BY s.score DESC, s.seq DESC) AS rank, "
                    f"NULL AS present, NULL AS found, NULL AS n FROM scored s "
                    f"QUALIFY rank <= $limit OR s.seq IN ({','.join(str(int(seq)) for seq in also)})")
        else:  # a plain top-k: no window over every matching passage
            rows = ("SELECT * FROM (SELECT s.seq, s.score, NULL AS rank, NULL AS present, NULL AS found, NULL AS n "
                    "FROM scored s ORDER BY s.score DESC, s.seq DESC LIMIT $limit)")
        sql = f"""
            WITH stats AS (
                SELECT count(*) AS n, greatest(avg(n_terms), 1) AS avgdl FROM passages WHERE agent_id = $agent),
            df AS (
                SELECT term, count(*) AS df FROM passage_terms
                WHERE agent_id = $agent AND term IN (SELECT unnest($terms::VARCHAR[])) GROUP BY term),
            scale AS (
                SELECT coalesce(sum(ln(1 + (stats.n - df.df + 0.5) / (df.df + 0.5))), 0) AS present,
                       count(df.term) AS found, max(stats.n) AS n
                FROM stats LEFT JOIN df ON true),
            scored AS (
                SELECT t.seq, sum(ln(1 + (stats.n - df.df + 0.5) / (df.df + 0.5))
                                  * t.tf * ($k1 + 1)
                                  / (t.tf + $k1 * (1 - $b + $b * p.n_terms / stats.avgdl))) AS score
                FROM passage_terms t JOIN df ON df.term = t.term JOIN passages p ON p.seq = t.seq, stats
                WHERE t.agent_id = $agent AND {where}
                GROUP BY t.seq)
            {rows}
            {"UNION ALL SELECT NULL, NULL, NULL, present, found, n FROM scale" if scaled else ""}"""
        with self._read() as con:
            result = con.execute(sql, params).fetchall()
        ranked = sorted((r for r in result if r[0] is not None), key=lambda r: (-r[1], -r[0]))
        top = [(r[0], float(r[1])) for r in ranked if r[2] is None or r[2] <= needed][:needed]
        extra = {r[0]: float(r[1]) for r in ranked if r[2] is not None and r[2] > needed}
        present, found, total = next(((float(r[3] or 0.0), int(r[4] or 0), int(r[5] or 0))
                                      for r in result if r[0] is None), (0.0, 0, 0))
        absent = (len(terms) - found) * idf(0, total)
        return top, extra, (present + absent) * (BM25_K1 + 1)

    def _vector_scores(self, vector: np.ndarray, seqs: Sequence[int]) -> dict[int, float]:
        """Exact cosines of these passages (a hybrid's text candidates the vector search did not return)."""
        if not seqs:
            return {}
        listed = ",".join(str(int(seq)) for seq in seqs)
        with self._read() as con:
            return {r[0]: float(r[1]) for r in con.execute(
                f"SELECT seq, 1 - array_cosine_distance(embedding, $q::VARCHAR::FLOAT[384]) FROM passages "
                f"WHERE seq IN ({listed})", {"q": vector_literal(vector)}).fetchall()}

    def _hybrid_ranking(self, agent_id: str, query: PassageQuery, needed: int,
                        found_rows: dict[int, Passage]) -> tuple[list[tuple[int, float]], dict[int, dict[str, Any]]]:
        depth = max(HYBRID_DEPTH, needed * 2)
        vector = self._vector_ranking(agent_id, query, depth, found_rows)
        text: list[tuple[int, float]] = []
        text_extra: dict[int, float] = {}
        vector_extra: dict[int, float] = {}
        scale = 0.0
        expanded: list[str] = []
        terms = query_terms(query.text) if query.text else []
        if terms:
            text, text_extra, scale = self._text_search(agent_id, query, depth, also=[seq for seq, _ in vector],
                                                        terms=terms)
            expanded = self._feedback_terms(agent_id, [seq for seq, _ in text[:PRF_DOCS]], terms)
            if expanded:
                candidates = sorted({seq for seq, _ in text} | {seq for seq, _ in vector})
                _, feedback, _ = self._text_search(agent_id, query, 0, also=candidates, scaled=False, terms=expanded)
                text, text_extra = with_feedback(text, text_extra, feedback, scale)
            in_vector = {seq for seq, _ in vector}
            vector_extra = self._vector_scores(query_vector(query), [s for s, _ in text if s not in in_vector])
        return fuse_scores(vector, text, scale, vector_extra, text_extra, needed, expanded)

    def _feedback_terms(self, agent_id: str, top: list[int], original: list[str]) -> list[str]:
        """The feedback terms of a hybrid search, from the term table: the top text hits' terms
        and how many of the agent's passages have each."""
        if not top:
            return []
        listed = ",".join(str(int(seq)) for seq in top)
        with self._read() as con:
            found = con.execute(f"""
                WITH mine AS (SELECT seq, term, tf FROM passage_terms WHERE seq IN ({listed})),
                df AS (SELECT term, count(*) AS df FROM passage_terms
                       WHERE agent_id = $agent AND term IN (SELECT term FROM mine) GROUP BY term)
                SELECT mine.seq, mine.term, mine.tf, df.df, (SELECT count(*) FROM passages WHERE agent_id = $agent)
                FROM mine JOIN df USING (term)""", {"agent": agent_id}).fetchall()
        counts: dict[int, dict[str, int]] = {}
        for seq, term, tf, _, _ in found:
            counts.setdefault(seq, {})[term] = tf
        frequencies = {term: df for _, term, _, df, _ in found}
        total = found[0][4] if found else 0
        return expansion_terms(list(counts.values()), original, frequencies, total)
