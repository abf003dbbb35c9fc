"""DuckDB's text index (a tantivy sidecar): BM25 as the formula gives it, filters before top-k,
and an index that follows the table through inserts, deletes, lost files and processes that
died between a commit and the index write."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from memos.store.base import NewPassage, PassageQuery
from memos.store.duckdb.text_index import TextIndexes
from memos.store.text import bm25_term, idf, query_terms, terms
from tests.conftest import unit_vectors

WORDS = ("lighthouse keeper gull harbour storm lantern rope anchor tide fog ferry island "
         "pier netting cod kettle").split()


def _corpus(count: int) -> list[str]:
    # Varied lengths and word mixes, deterministic: BM25's length normalisation matters.
    return [" ".join(WORDS[(i * k + k * k) % len(WORDS)] for k in range(1, 3 + i % 9)) for i in range(count)]


def _bm25(texts: list[str], query: str) -> dict[int, float]:
    """BM25 of every passage (by position) straight from the formula."""
    counted = [Counter(terms(t)) for t in texts]
    avgdl = sum(sum(c.values()) for c in counted) / len(counted)
    wanted = query_terms(query)
    weight = {t: idf(sum(1 for c in counted if t in c), len(counted)) for t in wanted}
    return {i: sum(bm25_term(c[t], weight[t], sum(c.values()), avgdl) for t in wanted if c[t])
            for i, c in enumerate(counted) if any(c[t] for t in wanted)}


def test_scores_are_bm25_and_ties_go_to_the_newest(workspace, agent):
    store = workspace.store
    texts = _corpus(400)
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, unit_vectors(400, seed=1))])
    for query in ("storm lantern", "ferry to the island in fog", "cod"):
        expected = _bm25(texts, query)
        order = sorted(expected, key=lambda i: (-round(expected[i], 5), -i))[:20]
        hits = store.search_passages(agent.id, PassageQuery(mode="text", text=query, top_k=20))
        assert [h.passage.id for h in hits] == [inserted[i].id for i in order]
        assert [h.score for h in hits] == pytest.approx([expected[i] for i in order], rel=1e-4)


def test_filters_apply_before_the_top_k(workspace, agent):
    store = workspace.store
    start = datetime(2026, 5, 1, tzinfo=UTC)
    # 50 passages that match the query best, untagged and early; 5 weaker ones tagged and late.
    texts = ["storm storm storm lantern"] * 50 + ["a storm came over the pier"] * 5
    passages = [NewPassage(t, v, tags=["log"] if i >= 50 else [], created_at=start + timedelta(days=i))
                for i, (t, v) in enumerate(zip(texts, unit_vectors(55, seed=2)))]
    inserted = store.insert_passages(agent.id, passages)
    tagged = store.search_passages(agent.id, PassageQuery(mode="text", text="storm", tags=["log"], top_k=3))
    assert {h.passage.id for h in tagged} <= {p.id for p in inserted[50:]} and len(tagged) == 3
    both = store.search_passages(agent.id, PassageQuery(mode="text", text="storm", tags=["log", "nope"],
                                                        tag_match="all", top_k=3))
    assert both == []
    dated = store.search_passages(agent.id, PassageQuery(mode="text", text="storm", top_k=10,
                                                         start=start + timedelta(days=52),
                                                         end=start + timedelta(days=53)))
    assert {h.passage.id for h in dated} == {inserted[52].id, inserted[53].id}  # both ends inclusive
    within_a_second = store.search_passages(agent.id, PassageQuery(
        mode="text", text="storm", top_k=10, start=start + timedelta(days=52, microseconds=1),
        end=start + timedelta(days=53)))
    assert {h.passage.id for h in within_a_second} == {inserted[53].id}


def test_a_process_that_died_after_its_commit_leaves_nothing_unfound(workspace, agent, monkeypatch):
    """The index write after a commit fails (as if the process died there): the passages are
    committed, and the next search brings the index up to date before answering."""
    store = workspace.store
    first = store.insert_passages(agent.id, [NewPassage("the harbour lantern", unit_vectors(1, seed=3)[0])])

    def died(*args: object, **kwargs: object) -> None:
        raise OSError("killed")

    monkeypatch.setattr(TextIndexes, "catch_up", died)
    late = store.insert_passages(agent.id, [NewPassage("a lantern on the pier", unit_vectors(1, seed=4)[0])])
    monkeypatch.setattr(TextIndexes, "remove", died)
    store.delete_passages(agent.id, [first[0].id])
    monkeypatch.undo()

    hits = store.search_passages(agent.id, PassageQuery(mode="text", text="lantern", top_k=5))
    assert [h.passage.id for h in hits] == [late[0].id]
    assert store._texts.state(agent.id).searcher().num_docs == 1  # the deleted one is gone from it too
    findings = {f.check: f.status for f in store._check_indexes(agent.id, repair=False)}
    assert findings["text index"] == "ok"


def test_lost_or_foreign_index_files_are_rebuilt(workspace, agent):
    store = workspace.store
    texts = _corpus(30)
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, unit_vectors(30, seed=5))])
    expected = [h.passage.id for h in store.search_passages(agent.id, PassageQuery(mode="text", text="gull", top_k=5))]
    assert expected and set(expected) <= {p.id for p in inserted}

    shutil.rmtree(store._texts.directory)  # derived data, lost
    findings = {f.check: f for f in store._check_indexes(agent.id, repair=False)}
    assert findings["text index"].status == "problem" and "30 passages missing" in findings["text index"].detail
    assert [h.passage.id for h in store.search_passages(agent.id, PassageQuery(mode="text", text="gull", top_k=5))] \
        == expected

    meta = store._texts.directory / f"{agent.id}.json"
    meta.write_text(meta.read_text().replace(store._texts.store_id, "another-database"))
    assert [h.passage.id for h in store.search_passages(agent.id, PassageQuery(mode="text", text="gull", top_k=5))] \
        == expected


def test_doctor_rebuilds_a_damaged_index(workspace, agent):
    store = workspace.store
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in
                                                zip(["rope and anchor", "tide tables"], unit_vectors(2, seed=6))])
    assert store.search_passages(agent.id, PassageQuery(mode="text", text="tide", top_k=1))
    (store._texts.directory / agent.id / "meta.json").unlink()  # tantivy's own record of its segments
    findings = {f.check: f.status for f in store._check_indexes(agent.id, repair=True)}
    assert findings["text index"] == "repaired"
    hits = store.search_passages(agent.id, PassageQuery(mode="text", text="anchor", top_k=5))
    assert [h.passage.id for h in hits] == [inserted[0].id]
    assert {f.check: f.status for f in store._check_indexes(agent.id, repair=False)}["text index"] == "ok"


def test_another_agents_passages_never_show(workspace, agent):
    from memos.core.agents import create_agent

    store = workspace.store
    other = create_agent(workspace, "bob")
    store.insert_passages(other.id, [NewPassage("the fog horn of bob", unit_vectors(1, seed=7)[0])])
    mine = store.insert_passages(agent.id, [NewPassage("a fog bank", unit_vectors(1, seed=8)[0])])
    hits = store.search_passages(agent.id, PassageQuery(mode="text", text="fog horn", top_k=5))
    assert [h.passage.id for h in hits] == [mine[0].id]


def test_a_transaction_of_many_batches_catches_the_index_up_once(workspace, agent, monkeypatch):
    store = workspace.store
    calls = []
    real = TextIndexes.catch_up

    def counted(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TextIndexes, "catch_up", counted)
    texts = _corpus(50)
    vectors = unit_vectors(50, seed=9)
    with store.transaction():
        for start in range(0, 50, 10):
            store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts[start:start + 10],
                                                                              vectors[start:start + 10])])
    assert len(calls) == 1
    hits = store.search_passages(agent.id, PassageQuery(mode="text", text=texts[49], top_k=50))
    assert len(calls) == 1 and len(hits) > 1  # the one catch-up indexed all five batches
    assert store._texts.state(agent.id).searcher().num_docs == 50
