"""Per-agent inverted index of passage terms (tantivy), kept beside the database file.

Why: BM25 over the ``passage_terms`` table scores every posting of the query's terms (a
common term has ~13k at 100k passages: 21.5 ms p50), where an inverted index built for it
skips what cannot reach the top (block-max WAND: 0.2 ms). docs/design.md has the numbers.

The passages table stays the source of truth; this index is derived and can always be
rebuilt from it. Each document is one passage: its ``seq`` and memos's own
stemmed terms (store/text.py), given to tantivy already tokenised, so both count the same
words, and tantivy's BM25 (k1 = 1.2, b = 0.75, the same IDF) gives the formula's scores.

Upkeep, safe with many processes: every change of the passages table is followed, after its
commit, by :meth:`TextIndexes.catch_up` (new passages past the *watermark*, the highest seq
indexed) or :meth:`TextIndexes.remove` (deleted ones), each under this agent's file lock, which
is never held while waiting for the database. A
process killed between the commit and the index write leaves the index behind or with a stale
passage; searches notice (passages past the watermark, or a count that differs from the
table's) and bring it up to date first, and ``memos doctor`` rebuilds it. Adding a passage
deletes any document with its seq first, so repeating a catch-up never doubles one.

Files for agent A: ``<db>.text/A/`` (tantivy's files) and ``A.json`` (watermark, store id),
written after tantivy's commit (sidecar.py).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from memos.store.duckdb.sidecar import Sidecars

TERMS, SEQ, TAGS, CREATED = "terms", "seq", "tags", "created_us"
WRITER_HEAP = 15_000_000  # bytes; tantivy's minimum for one thread


@dataclass(frozen=True)
class TextIndexState:
    index: Any | None  # tantivy.Index, or None when this agent has none yet
    watermark: int

    def searcher(self) -> Any:
        assert self.index is not None
        return self.index.searcher()


@dataclass(frozen=True)
class IndexedPassage:
    """What the index holds of a passage: its terms (store/text.py, with repeats) and filters."""

    seq: int
    terms: list[str]
    tags: list[str]
    created_us: int  # microseconds since the epoch, UTC: exact, where tantivy's dates keep seconds


@dataclass(frozen=True)
class Filters:
    tags: Sequence[str] = ()
    all_tags: bool = False
    start_us: int | None = None
    end_us: int | None = None

    def __bool__(self) -> bool:
        return bool(self.tags) or self.start_us is not None or self.end_us is not None


@lru_cache(maxsize=1)
def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_unsigned_field(SEQ, stored=False, indexed=True, fast=True)
    # "freq": BM25 needs term frequencies, not positions; the terms arrive pre-tokenised.
    # Stored too: a hybrid search's feedback reads the terms of its top hits back.
    builder.add_text_field(TERMS, stored=True, tokenizer_name="raw", index_option="freq")
    builder.add_text_field(TAGS, stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field(CREATED, stored=False, indexed=True, fast=True)
    return builder.build()


def _document(passage: IndexedPassage) -> Any:
    import tantivy

    document = tantivy.Document()
    document.add_unsigned(SEQ, passage.seq)
    tokens = [tantivy.Token(term, position, 0) for position, term in enumerate(passage.terms)]
    document.add_pre_tokenized_text(TERMS, tantivy.PreTokenizedString(" ".join(passage.terms), tokens))
    for tag in passage.tags:
        document.add_text(TAGS, tag)
    document.add_integer(CREATED, passage.created_us)
    return document


def _delete(writer: Any, seqs: Sequence[int]) -> None:
    """Delete these passages' documents (by a query: deleting by a bare int term misses a u64 field)."""
    if seqs:
        import tantivy

        writer.delete_documents_by_query(tantivy.Query.term_set_query(_schema(), SEQ, [int(s) for s in seqs]))


def _filter_query(filters: Filters) -> Any:
    """The passages that pass the filters, as a query adding no score."""
    import tantivy

    schema, parts = _schema(), []
    if filters.tags:
        if filters.all_tags:
            parts += [tantivy.Query.term_query(schema, TAGS, tag) for tag in filters.tags]
        else:
            parts.append(tantivy.Query.term_set_query(schema, TAGS, list(filters.tags)))
    if filters.start_us is not None or filters.end_us is not None:
        parts.append(tantivy.Query.range_query(schema, CREATED, tantivy.FieldType.Integer,
                                               filters.start_us, filters.end_us))
    only = tantivy.Query.boolean_query([(tantivy.Occur.Must, part) for part in parts])
    return tantivy.Query.const_score_query(only, 0.0)


class TextIndexes(Sidecars[TextIndexState]):
    def _index_dir(self, agent_id: str) -> Path:
        return self.directory / agent_id

    # -- reading -----------------------------------------------------------------
    def state(self, agent_id: str, *, cached: bool = True) -> TextIndexState:
        """The agent's index as last written (reopened only when its meta file changed, or
        always with ``cached=False``, as ``memos doctor`` checks it)."""
        stamp = self._stamp(agent_id)
        if stamp is None:
            return TextIndexState(None, 0)
        known = self._cached(agent_id, stamp) if cached else None
        if known is not None:
            return known
        meta = self._read_meta(self._meta_path(agent_id))
        if meta is None:
            return TextIndexState(None, 0)
        import tantivy

        try:
            index = tantivy.Index.open(str(self._index_dir(agent_id)))
        except Exception:
            return TextIndexState(None, 0)  # unreadable: treat as absent, it gets rebuilt
        return self._remember(agent_id, stamp, TextIndexState(index, int(meta["watermark"])))

    @staticmethod
    def _query(terms: Sequence[str], filters: Filters, among: Iterable[int] | None = None) -> Any:
        """Any of ``terms``, scored by BM25, among the passages passing ``filters`` (and only
        the passages ``among``, if given); the restrictions add no score of their own."""
        import tantivy

        schema = _schema()
        wanted = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, TERMS, term, index_option="freq"))
                  for term in terms]
        parts = [(tantivy.Occur.Must, tantivy.Query.boolean_query(wanted))]
        if filters:
            parts.append((tantivy.Occur.Must, _filter_query(filters)))
        if among is not None:
            only = tantivy.Query.term_set_query(schema, SEQ, list(among))
            parts.append((tantivy.Occur.Must, tantivy.Query.const_score_query(only, 0.0)))
        return parts[0][1] if len(parts) == 1 else tantivy.Query.boolean_query(parts)

    @staticmethod
    def _hits(searcher: Any, query: Any, limit: int) -> list[tuple[int, float]]:
        if limit <= 0:
            return []
        result = searcher.search(query, limit, count=False)
        seqs = searcher.fast_field_values(SEQ, [address for _, address in result.hits])
        return [(int(seq), float(score)) for (score, _), seq in zip(result.hits, seqs)]

    def top(self, searcher: Any, terms: Sequence[str], count: int, filters: Filters = Filters()
            ) -> list[tuple[int, float]]:
        """The ``count`` best (seq, BM25), best first, ties newest first as the SQL orders them:
        fetched past the cut until the score there changes, so no tie is cut arbitrarily."""
        if not terms or count <= 0:
            return []
        query = self._query(terms, filters)
        limit = count + 8
        while True:
            hits = self._hits(searcher, query, limit)
            if len(hits) < limit or hits[-1][1] < hits[count - 1][1]:
                break
            limit *= 2
        hits.sort(key=lambda hit: (-hit[1], -hit[0]))
        return hits[:count]

    def scores_of(self, searcher: Any, terms: Sequence[str], seqs: Sequence[int]) -> dict[int, float]:
        """The BM25 of these passages (those matching none of the terms are left out)."""
        if not terms or not seqs:
            return {}
        return dict(self._hits(searcher, self._query(terms, Filters(), seqs), len(seqs)))

    def terms_of(self, searcher: Any, seqs: Sequence[int]) -> dict[int, Counter[str]]:
        """The terms (with their counts) of these passages, as indexed."""
        import tantivy

        if not seqs:
            return {}
        query = tantivy.Query.term_set_query(_schema(), SEQ, [int(seq) for seq in seqs])
        addresses = [address for _, address in searcher.search(query, len(seqs), count=False).hits]
        found = searcher.fast_field_values(SEQ, addresses)
        return {int(seq): Counter((searcher.doc(address).get_first(TERMS) or "").split())
                for seq, address in zip(found, addresses)}

    @staticmethod
    def document_frequencies(searcher: Any, terms: Iterable[str]) -> dict[str, int]:
        return {term: int(searcher.doc_freq(TERMS, term)) for term in terms}

    def seqs(self, searcher: Any) -> set[int]:
        """Every passage in the index (for reconciling it with the table)."""
        import tantivy

        total = int(searcher.num_docs)
        return {seq for seq, _ in self._hits(searcher, tantivy.Query.all_query(), total)} if total else set()

    # -- writing -----------------------------------------------------------------
    def _open_for_writing(self, index_dir: Path, meta: dict[str, Any] | None) -> tuple[Any, int]:
        """The index and its watermark; a new empty one if it is missing, unreadable or another
        database's."""
        import tantivy

        if meta is not None and index_dir.exists():
            try:
                return tantivy.Index.open(str(index_dir)), int(meta["watermark"])
            except Exception:
                pass  # unreadable: rebuilt below
        shutil.rmtree(index_dir, ignore_errors=True)
        index_dir.mkdir(parents=True)
        return tantivy.Index(_schema(), path=str(index_dir)), 0

    def catch_up(self, agent_id: str, read_after: Callable[[int], list[IndexedPassage]],
                 *, rebuild: bool = False) -> TextIndexState:
        """Index the passages past the watermark (``read_after(watermark)`` gives them).
        ``rebuild`` starts from an empty index.

        The passages are read before this agent's lock is taken, never while holding it: if a
        holder waited for the database, a search holding the database while it waits for this
        lock, and a writer queued between them, would wait for each other for ever."""
        index_dir = self._index_dir(agent_id)
        while True:
            seen = None if rebuild else self._read_meta(self._meta_path(agent_id))
            start = int(seen["watermark"]) if seen else 0
            new = read_after(start)
            with self._locked(agent_id) as meta_path:
                meta = None if rebuild else self._read_meta(meta_path)
                current = int(meta["watermark"]) if meta else 0
                if current < start:
                    continue  # the index was reset since it was read: read again from its watermark
                index, watermark = self._open_for_writing(index_dir, meta)
                new = [passage for passage in new if passage.seq > watermark]
                if new or meta is None:
                    writer = index.writer(WRITER_HEAP, 1)
                    _delete(writer, [passage.seq for passage in new])  # a repeated catch-up never doubles one
                    for passage in new:
                        writer.add_document(_document(passage))
                    writer.commit()
                    writer.wait_merging_threads()
                    watermark = max([watermark, *(passage.seq for passage in new)])
                    self._write_meta(meta_path, watermark=watermark)
            return self.state(agent_id)

    @staticmethod
    def in_memory(passages: list[IndexedPassage]) -> TextIndexState:
        """An index held in memory for one search, where the sidecar cannot be written (a
        read-only home): searching must not need a write."""
        import tantivy

        index = tantivy.Index(_schema())
        writer = index.writer(WRITER_HEAP, 1)
        for passage in passages:
            writer.add_document(_document(passage))
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        return TextIndexState(index, max((p.seq for p in passages), default=0))

    def remove(self, agent_id: str, seqs: Sequence[int]) -> None:
        """Take deleted passages out of the index (nothing to do if it has none yet)."""
        index_dir = self._index_dir(agent_id)
        with self._locked(agent_id) as meta_path:
            meta = self._read_meta(meta_path)
            if meta is None or not index_dir.exists() or not seqs:
                return
            import tantivy

            writer = tantivy.Index.open(str(index_dir)).writer(WRITER_HEAP, 1)
            _delete(writer, seqs)
            writer.commit()
            writer.wait_merging_threads()
            self._write_meta(meta_path, watermark=int(meta["watermark"]))  # a new stamp: readers reopen

    def reconcile(self, agent_id: str, read_seqs: Callable[[int], set[int]],
                  read_some: Callable[[Sequence[int]], list[IndexedPassage]]) -> TextIndexState:
        """Make the indexed passages (those up to the watermark) the table's: ``read_seqs(w)``
        gives the table's seqs up to w, ``read_some(seqs)`` those passages. Run when the counts
        differ, as after a process died between a delete and its index write. (Read before the
        lock is taken, as in catch_up; a change racing with this is set right by its own index
        write, or by the next search that sees the counts differ.)"""
        state = self.state(agent_id)
        if state.index is None:
            return state
        watermark = state.watermark
        indexed = {seq for seq in self.seqs(state.searcher()) if seq <= watermark}
        table = read_seqs(watermark)
        stale, missing = indexed - table, sorted(table - indexed)
        if not stale and not missing:
            return state
        passages = read_some(missing)
        index_dir = self._index_dir(agent_id)
        with self._locked(agent_id) as meta_path:
            meta = self._read_meta(meta_path)
            if meta is None or not index_dir.exists():
                return self.state(agent_id)
            import tantivy

            writer = tantivy.Index.open(str(index_dir)).writer(WRITER_HEAP, 1)
            _delete(writer, [*stale, *missing])
            for passage in passages:
                writer.add_document(_document(passage))
            writer.commit()
            writer.wait_merging_threads()
            self._write_meta(meta_path, watermark=int(meta["watermark"]))
        return self.state(agent_id)

    def drop(self, agent_id: str) -> None:
        shutil.rmtree(self._index_dir(agent_id), ignore_errors=True)
        self._drop_files(agent_id)
