"""Archival memory on PostgreSQL: pgvector's HNSW for vector search, full-text search (a
generated tsvector with a GIN index) for text, and for hybrid the same score fusion as
DuckDB's, with BM25 over its own lexemes (statistics kept by triggers, migration 0005).

Both indexes follow every insert and delete, so there is no unindexed tail to score
separately, unlike DuckDB's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from memos.errors import InvalidInput, NotFound
from memos.store import ids
from memos.store.base import NewPassage, Passage, PassageHit, PassageQuery, PassageStats
from memos.store.postgres import vectors
from memos.store.postgres.connection import PgConnections, connect
from memos.store.search import (
    HYBRID_DEPTH,
    PRF_DOCS,
    check_embeddings,
    common_terms,
    expansion_terms,
    fuse_scores,
    mode_explain,
    query_vector,
    vector_literal,
    with_feedback,
)
from memos.store.sql import rows
from memos.store.sql.passages import PassageLookups, check_width, passage_batches, passage_filters, passage_stats
from memos.store.text import BM25_B, BM25_K1, bm25_term, idf
from memos.store.timeutil import from_db, to_db, utcnow

# Candidates the HNSW search keeps while walking the graph; the pgvector default (40) gave
# recall@10 below 0.95 at 100k MiniLM passages (bench/postgres.py).
EF_SEARCH = 100
EF_SEARCH_MAX = 1000  # pgvector's ceiling; deeper pages come from the iterative scan
COLUMNS = rows.PASSAGE_COLUMNS_P
# A tsquery matching any of the lexemes in the named parameter (a list of stemmed words).
_ANY_OF = "CAST((SELECT string_agg(quote_literal(l), ' | ') FROM unnest(CAST(${} AS VARCHAR[])) AS l) AS tsquery)"
# How many passages the selecting words of a text search may match together (see _selecting).
SELECT_BUDGET = 2_000


PASSAGE_COPY_COLUMNS = "id, agent_id, seq, text, tags, embedding, embedding_model, created_at, batch"
_PASSAGE_COPY_TYPES = ["varchar", "varchar", "int8", "varchar", "varchar[]", "vector", "varchar", "timestamp", "int8"]


def copy_passages(raw: Any, values: Iterable[Sequence[Any]]) -> None:
    """Write passage rows (PASSAGE_COPY_COLUMNS, the embedding a numpy array) by binary COPY."""
    with raw.cursor().copy(f"COPY passages ({PASSAGE_COPY_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_PASSAGE_COPY_TYPES)
        for row in values:
            copy.write_row(row)


def _ranked(result: Sequence[Sequence[Any]], found: dict[int, Passage]) -> list[tuple[int, float]]:
    """(seq, score) of rows ``seq, score, COLUMNS…``, keeping their passages in ``found``."""
    for row in result:
        found[row[0]] = rows.passage(row[2:])
    return [(row[0], float(row[1])) for row in result]


class PgPassagesMixin(PassageLookups):
    _db: PgConnections
    url: str

    def insert_passages(self, agent_id: str, passages: Sequence[NewPassage], batch: int | None = None) -> list[Passage]:
        if not passages:
            return []
        matrix = check_embeddings(passages)
        self._vector_index_for(matrix.shape[1])
        now = utcnow()
        with self._write() as con:
            model = self._passage_model(con, agent_id)
            check_width(con, agent_id, model, matrix.shape[1], dims="vector_dims(embedding)")
            self._lock(con, "passage-seq")
            first = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM passages").fetchone()[0]
            made = [Passage(id=ids.new_id("passage"), agent_id=agent_id, text=p.text, tags=sorted(set(p.tags)),
                            created_at=from_db(to_db(p.created_at or now)))
                    for p in passages]
            copy_passages(self._db.with_vectors(con), [
                (passage.id, agent_id, first + i, passage.text, passage.tags, vector, model, to_db(passage.created_at),
                 batch)
                for i, (passage, vector) in enumerate(zip(made, matrix))])
        return made

    def _vector_index_for(self, width: int) -> None:
        """The HNSW index for vectors of this width, made before the first of them is stored."""
        if vectors.indexed(self.url, width):
            return
        with self._read() as con:
            present = con.execute("SELECT 1 FROM pg_indexes WHERE tablename = 'passages' AND indexname = ?",
                                  [f"passages_embedding_{width}"]).fetchone()
        if present:
            vectors.known.add((self.url, width))
            return
        with connect(self.url, "vector-index") as raw:
            vectors.ensure_index(raw, self.url, width)

    def delete_passages(self, agent_id: str, passage_ids: Sequence[str]) -> int:
        with self._write() as con:
            found = [r[0] for r in con.execute(
                "SELECT id FROM passages WHERE agent_id = $agent AND id = ANY($ids::VARCHAR[]) FOR UPDATE",
                {"agent": agent_id, "ids": list(passage_ids)}).fetchall()]
            missing = sorted(set(passage_ids) - set(found))
            if missing:
                raise NotFound(f"no passage '{missing[0]}' for this agent", "see `memos archival list`")
            con.execute("DELETE FROM passages WHERE id = ANY($ids::VARCHAR[])", {"ids": found})
            return len(found)

    # -- reads ---------------------------------------------------------------------
    def passage_stats(self, agent_id: str) -> PassageStats:
        with self._read() as con:
            return passage_stats(con, agent_id, None)  # pgvector's index follows every write

    # -- search --------------------------------------------------------------------
    def search_passages(self, agent_id: str, query: PassageQuery) -> list[PassageHit]:
        if query.top_k <= 0:
            return []
        if query.mode not in ("vector", "text", "hybrid"):
            raise InvalidInput(f"unknown search mode '{query.mode}'", "use vector, text or hybrid")
        needed = query.top_k + query.offset
        found: dict[int, Passage] = {}
        with self._read() as con:
            if query.mode == "vector":
                ranked = self._vector_ranking(con, agent_id, query, needed, found)
                explained = mode_explain("vector", ranked)
            elif query.mode == "text":
                ranked = self._text_ranking(con, agent_id, query, needed, found)
                explained = mode_explain("text", ranked)
            else:
                ranked, explained = self._hybrid_ranking(con, agent_id, query, needed, found)
        return [PassageHit(found[seq], score, explained.get(seq)) for seq, score in ranked[query.offset:needed]]

    def _hybrid_ranking(self, con: Any, agent_id: str, query: PassageQuery, needed: int,
                        found: dict[int, Passage]) -> tuple[list[tuple[int, float]], dict[int, dict[str, Any]]]:
        """Both modes' candidates, each scored by both and fused as on DuckDB (search.fuse_scores),
        with the same feedback terms and neighbour context. The text candidates and the fused
        text score are BM25 over PostgreSQL's own lexemes (_text_ranking, _bm25_of), with the
        same "best possible" scale (each query lexeme's IDF times k1 + 1, lexemes no passage has
        included), so a word in every passage cannot decide alone."""
        depth = max(HYBRID_DEPTH, needed * 2)
        vector = self._vector_ranking(con, agent_id, query, depth, found)
        lexemes, frequencies, corpus = self._query_statistics(con, agent_id, query.text or "")
        common = common_terms(frequencies, corpus[0])
        lexemes = [lexeme for lexeme in lexemes if lexeme not in common]
        frequencies = {lexeme: df for lexeme, df in frequencies.items() if lexeme not in common}
        stats = (lexemes, frequencies, corpus)
        text_candidates = (self._text_ranking(con, agent_id, query, depth, found, stats)
                           if lexemes and query.text and query.text.strip() else [])
        seqs = sorted({seq for seq, _ in vector} | {seq for seq, _ in text_candidates})
        bm25 = self._bm25_of(con, lexemes, frequencies, corpus, seqs)
        scale = sum(idf(df, corpus[0]) for df in frequencies.values()) * (BM25_K1 + 1)
        text = sorted(((seq, bm25.get(seq, 0.0)) for seq, _ in text_candidates), key=lambda item: (-item[1], -item[0]))
        in_text, in_vector = {seq for seq, _ in text}, {seq for seq, _ in vector}
        text_extra = {seq: bm25.get(seq, 0.0) for seq, _ in vector if seq not in in_text}
        expanded, known = self._feedback_terms(con, agent_id, [seq for seq, _ in text[:PRF_DOCS]], lexemes, corpus[0])
        if expanded:
            feedback = self._bm25_of(con, expanded, known, corpus, seqs)
            text, text_extra = with_feedback(text, text_extra, feedback, scale)
        text_only = [seq for seq, _ in text if seq not in in_vector]
        embedding = query_vector(query)
        vector_extra = {r[0]: float(r[1]) for r in con.execute(
            "SELECT seq, 1 - (embedding <=> $q::vector) FROM passages WHERE seq = ANY($seqs::BIGINT[]) "
            "AND vector_dims(embedding) = $width",
            {"q": vector_literal(embedding), "seqs": text_only, "width": len(embedding)}).fetchall()} if text_only else {}
        return fuse_scores(vector, text, scale, vector_extra, text_extra, needed, expanded,
                           lambda seqs: passage_batches(con, seqs))

    @staticmethod
    def _corpus(con: Any, agent_id: str) -> tuple[int, float]:
        """The agent's passage count and average length in lexemes (kept by triggers, 0005)."""
        row = con.execute("SELECT passages, lexemes FROM passage_text_stats WHERE agent_id = ?", [agent_id]).fetchone()
        total, lexemes = (int(row[0]), int(row[1])) if row else (0, 0)
        return total, max(lexemes / total if total else 1.0, 1.0)

    @staticmethod
    def _document_frequencies(con: Any, agent_id: str, lexemes: list[str]) -> dict[str, int]:
        """How many of the agent's passages have each lexeme (kept by triggers, 0005)."""
        if not lexemes:
            return {}
        found = dict(con.execute(
            "SELECT lexeme, df FROM passage_lexemes WHERE agent_id = $agent AND lexeme = ANY($lexemes::VARCHAR[])",
            {"agent": agent_id, "lexemes": lexemes}).fetchall())
        return {lexeme: int(found.get(lexeme, 0)) for lexeme in lexemes}

    def _feedback_terms(self, con: Any, agent_id: str, top: list[int], original: list[str],
                        total: int) -> tuple[list[str], dict[str, int]]:
        """The feedback lexemes of a hybrid search (the top text hits' lexemes, counts from the
        tsvector's positions), with the document frequencies they were chosen by."""
        if not top:
            return [], {}
        counts: dict[int, dict[str, int]] = {}
        for seq, lexeme, tf in con.execute(
                "SELECT p.seq, u.lexeme, coalesce(array_length(u.positions, 1), 1) FROM passages p, unnest(p.tsv) u "
                "WHERE p.seq = ANY($seqs::BIGINT[])", {"seqs": top}).fetchall():
            counts.setdefault(seq, {})[lexeme] = int(tf)
        frequencies = self._document_frequencies(
            con, agent_id, sorted({lexeme for c in counts.values() for lexeme in c} - set(original)))
        return expansion_terms(list(counts.values()), original, frequencies, total), frequencies

    @staticmethod
    def _bm25_of(con: Any, lexemes: list[str], frequencies: dict[str, int], corpus: tuple[int, float],
                 seqs: list[int]) -> dict[int, float]:
        """BM25 of these passages for the lexemes: term frequencies from each tsvector's positions,
        document length as its number of distinct lexemes, ``corpus`` the agent's passage count
        and average length."""
        if not lexemes or not seqs:
            return {}
        total, avgdl = corpus
        weights = {lexeme: idf(frequencies.get(lexeme, 0), total) for lexeme in lexemes}
        scores: dict[int, float] = {}
        for seq, length, lexeme, tf in con.execute(
                "SELECT p.seq, length(p.tsv), u.lexeme, coalesce(array_length(u.positions, 1), 1) "
                "FROM passages p, unnest(p.tsv) u WHERE p.seq = ANY($seqs::BIGINT[]) AND u.lexeme = ANY($lexemes::VARCHAR[])",
                {"seqs": seqs, "lexemes": lexemes}).fetchall():
            scores[seq] = scores.get(seq, 0.0) + bm25_term(tf, weights[lexeme], length, avgdl)
        return scores

    def _vector_ranking(self, con: Any, agent_id: str, query: PassageQuery, needed: int,
                        found: dict[int, Passage]) -> list[tuple[int, float]]:
        vector = query_vector(query)
        where, params = passage_filters(agent_id, query.tags, query.tag_match, query.start, query.end)
        params.update(q=vector_literal(vector), limit=needed)
        width = len(vector)
        distance = f"{vectors.expression(width)} <=> {vectors.query_cast(width)}"
        # Filters are applied while walking the graph, and the walk goes on until enough rows
        # pass them (pgvector's iterative scan), so a filter never leaves a page short.
        con.execute(f"SET LOCAL hnsw.ef_search = {min(EF_SEARCH_MAX, max(EF_SEARCH, needed))}")
        con.execute("SET LOCAL hnsw.iterative_scan = strict_order")
        result = con.execute(
            f"SELECT p.seq, 1 - ({distance}) AS score, {COLUMNS} FROM passages p "
            f"WHERE {where} AND {vectors.predicate(width)} ORDER BY {distance} LIMIT $limit", params).fetchall()
        return _ranked(result, found)

    def _query_statistics(self, con: Any, agent_id: str, text: str
                          ) -> tuple[list[str], dict[str, int], tuple[int, float]]:
        """The query's lexemes, their document frequencies and the agent's corpus (count,
        average length): what both the text ranking and a hybrid's BM25 need, asked once."""
        lexemes = con.execute("SELECT tsvector_to_array(to_tsvector('english', ?))", [text]).fetchone()[0] or []
        return lexemes, self._document_frequencies(con, agent_id, lexemes), self._corpus(con, agent_id)

    def _text_ranking(self, con: Any, agent_id: str, query: PassageQuery, needed: int, found: dict[int, Passage],
                      stats: tuple[list[str], dict[str, int], tuple[int, float]] | None = None
                      ) -> list[tuple[int, float]]:
        """BM25 over the agent's lexemes, as DuckDB ranks: the rows are those matching the
        query's rarest words (see _selecting), scored in SQL by every query word with the
        agent's statistics (0005), filters applied before the top k. ``stats`` is what
        _query_statistics gave, if the caller asked already."""
        if not query.text or not query.text.strip():
            raise InvalidInput("a text search needs query text")
        lexemes, frequencies, (total, avgdl) = stats or self._query_statistics(con, agent_id, query.text)
        if not lexemes:
            return []  # only stop words
        selecting = _selecting(frequencies)
        if not selecting:
            return []  # no passage has any of the words
        where, params = passage_filters(agent_id, query.tags, query.tag_match, query.start, query.end)
        params.update(selecting=selecting, lexemes=lexemes, weights=[idf(frequencies[word], total) for word in lexemes],
                      limit=needed, k1=BM25_K1, b=BM25_B, avgdl=avgdl)
        result = con.execute(f"""
            WITH q AS (SELECT * FROM unnest($lexemes::VARCHAR[], $weights::FLOAT8[]) AS q(lexeme, weight)),
            chosen AS (SELECT p.seq, p.tsv FROM passages p WHERE {where} AND p.tsv @@ {_ANY_OF.format('selecting')}),
            scored AS (
                SELECT c.seq, sum(q.weight * t.tf * ($k1 + 1)
                                  / (t.tf + $k1 * (1 - $b + $b * length(c.tsv) / $avgdl))) AS score
                FROM chosen c,
                     LATERAL (SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS tf FROM unnest(c.tsv) u) t
                JOIN q ON q.lexeme = t.lexeme
                GROUP BY c.seq ORDER BY score DESC, c.seq DESC LIMIT $limit)
            SELECT p.seq, s.score, {COLUMNS} FROM scored s JOIN passages p ON p.seq = s.seq
            ORDER BY s.score DESC, p.seq DESC""", params).fetchall()
        return _ranked(result, found)


def _selecting(frequencies: dict[str, int]) -> list[str]:
    """The query words whose rows a text search scores: the rarest first, while together they
    match no more than SELECT_BUDGET passages (at least the rarest one). A passage with none of
    them has only common words of the query, each worth little to BM25 (a low IDF); reading
    every row of a word in a tenth of a million passages cost ~120 ms, and a budget of 5,000
    rows ~33 ms, at a million passages (bench/scale.py); LoCoMo's and Cranfield's recall were
    the same with 5,000 and 2,000."""
    chosen: list[str] = []
    rows = 0
    present = [word for word, df in frequencies.items() if df > 0]
    for lexeme in sorted(present, key=lambda word: (frequencies[word], word)):
        if chosen and rows + frequencies[lexeme] > SELECT_BUDGET:
            break
        chosen.append(lexeme)
        rows += frequencies[lexeme]
    return chosen
