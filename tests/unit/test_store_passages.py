"""Archival search correctness: vector (index + tail), BM25 text, hybrid, filters, paging."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from memos.errors import InvalidInput, NotFound
from memos.store.base import NewPassage, PassageQuery
from memos.store.duckdb import vector_index
from tests.conftest import every_store, unit_vectors


def _exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(vectors @ query), kind="stable")[:k])


@every_store
def test_vector_search_matches_exact_before_and_after_index(workspace, agent, monkeypatch):
    monkeypatch.setattr(vector_index, "TAIL_LIMIT", 100)
    import memos.store.duckdb.passages as passages_mod
    monkeypatch.setattr(passages_mod, "TAIL_LIMIT", 100)
    store = workspace.store
    vectors = unit_vectors(600, seed=1)
    inserted = []
    for start in range(0, 600, 150):  # several inserts: the index catches up in between
        inserted += store.insert_passages(agent.id, [NewPassage(f"p{i}", vectors[i]) for i in range(start, start + 150)])
    stats = store.passage_stats(agent.id)
    assert stats.total == 600 and 0 < stats.indexed <= 600
    # Queries near stored vectors: the nearest must be exact, recall high.
    rng = np.random.default_rng(5)
    hits_total = top1 = 0
    for i in rng.choice(600, 20, replace=False):
        query = vectors[i] + 0.05 * unit_vectors(1, seed=int(i))[0]
        query /= np.linalg.norm(query)
        hits = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=query, top_k=10))
        expected = {inserted[j].id for j in _exact_top(vectors, query, 10)}
        top1 += hits[0].passage.id == inserted[i].id
        hits_total += len(expected & {h.passage.id for h in hits})
    assert top1 >= 19  # HNSW is approximate: one miss in 20 is allowed, more is a regression
    assert hits_total / 200 >= 0.95


@every_store
def test_new_passages_are_found_immediately(workspace, agent):
    store = workspace.store
    vectors = unit_vectors(50, seed=2)
    store.insert_passages(agent.id, [NewPassage(f"p{i}", vectors[i]) for i in range(40)])
    store.rebuild_vector_index(agent.id)
    late = store.insert_passages(agent.id, [NewPassage("late one", vectors[45])])[0]
    hits = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[45], top_k=1))
    assert hits[0].passage.id == late.id and hits[0].score == pytest.approx(1.0, abs=1e-5)


@every_store
def test_deleted_passages_never_come_back(workspace, agent):
    store = workspace.store
    vectors = unit_vectors(30, seed=3)
    inserted = store.insert_passages(agent.id, [NewPassage(f"p{i}", vectors[i]) for i in range(30)])
    store.rebuild_vector_index(agent.id)
    assert store.delete_passages(agent.id, [inserted[3].id]) == 1
    hits = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[3], top_k=30))
    assert inserted[3].id not in {h.passage.id for h in hits} and len(hits) == 29
    text_hits = store.search_passages(agent.id, PassageQuery(mode="text", text="p3", top_k=5))
    assert inserted[3].id not in {h.passage.id for h in text_hits}
    with pytest.raises(NotFound):
        store.delete_passages(agent.id, [inserted[3].id])


@every_store
def test_bm25_text_search_ranks_and_stems(workspace, agent):
    store = workspace.store
    texts = ["The cat sat on the mat", "Dogs are running in the park", "A dog runs after the cat",
             "Databases store rows", "Running databases is work"]
    vectors = unit_vectors(len(texts), seed=4)
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, vectors)])
    hits = store.search_passages(agent.id, PassageQuery(mode="text", text="dog running", top_k=5))
    ids = [h.passage.id for h in hits]
    assert set(ids[:2]) == {inserted[1].id, inserted[2].id}  # 'dogs'/'dog', 'running'/'runs' stem together
    assert inserted[3].id not in ids
    assert store.search_passages(agent.id, PassageQuery(mode="text", text="zebra", top_k=5)) == []


@every_store
def test_a_rare_word_outranks_one_every_passage_has(workspace, agent):
    store = workspace.store
    texts = [f"weekly status report number {i}" for i in range(300)]
    texts[123] = "weekly status report with the zeppelin incident"
    vectors = unit_vectors(len(texts), seed=9)
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, vectors)])
    store.rebuild_vector_index(agent.id)  # PostgreSQL: fresh statistics of which words are common
    hits = store.search_passages(agent.id, PassageQuery(mode="text", text="status of the zeppelin", top_k=5))
    assert hits[0].passage.id == inserted[123].id
    # A query of common words only still finds passages.
    assert len(store.search_passages(agent.id, PassageQuery(mode="text", text="weekly report", top_k=5))) == 5


@every_store
def test_hybrid_fuses_text_and_vector(workspace, agent):
    store = workspace.store
    vectors = unit_vectors(20, seed=6)
    texts = [f"filler passage {i}" for i in range(20)]
    texts[7] = "the launch code is tangerine"
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, vectors)])
    # the text side finds 'tangerine'; the vector side points at passage 12
    hits = store.search_passages(agent.id, PassageQuery(mode="hybrid", text="tangerine", embedding=vectors[12], top_k=2))
    assert {h.passage.id for h in hits} == {inserted[7].id, inserted[12].id}


@every_store
def test_a_hybrid_hit_explains_its_score(workspace, agent):
    """Every hit says each mode's rank and score; the fused score is their weighted sum, with
    the cosine of a text-only candidate computed exactly (not left out), plus what its
    best neighbour lends."""
    from memos.store.search import HYBRID_VECTOR_WEIGHT

    store = workspace.store
    vectors = unit_vectors(30, seed=8)
    texts = [f"filler passage {i}" for i in range(30)]
    texts[3] = "the spare key hangs behind the blue door"
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, vectors)])
    hits = store.search_passages(agent.id, PassageQuery(mode="hybrid", text="blue door key", embedding=vectors[20],
                                                        top_k=5))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    by_id = {h.passage.id: h for h in hits}
    assert {inserted[3].id, inserted[20].id} <= by_id.keys()
    for hit in hits:
        explain = hit.explain
        assert explain is not None and explain["weights"]["vector"] == HYBRID_VECTOR_WEIGHT
        cosine = float(vectors[[p.id for p in inserted].index(hit.passage.id)] @ vectors[20])
        assert explain["vector"]["score"] == pytest.approx(cosine, abs=1e-4)
        neighbour = explain["neighbour"]  # what a passage stored just before or after it lends
        assert hit.score == pytest.approx(HYBRID_VECTOR_WEIGHT * cosine
                                          + (1 - HYBRID_VECTOR_WEIGHT) * explain["text"]["share"]
                                          + neighbour["weight"] * neighbour["score"], abs=1e-6)
    assert by_id[inserted[3].id].explain["text"]["rank"] == 1 and by_id[inserted[20].id].explain["vector"]["rank"] == 1
    assert 0 < by_id[inserted[3].id].explain["text"]["share"] <= 1
    text_only = store.search_passages(agent.id, PassageQuery(mode="text", text="blue door key", top_k=1))[0]
    assert text_only.explain == {"text": {"rank": 1, "score": text_only.score}, "fused": text_only.score}


@every_store
def test_hybrid_keeps_filters_and_other_agents_out(workspace, agent):
    from memos.core.agents import create_agent

    store = workspace.store
    other = create_agent(workspace, "bob")
    vectors = unit_vectors(12, seed=9)
    store.insert_passages(other.id, [NewPassage("the blue door key is mine", vectors[0])])
    mine = store.insert_passages(agent.id, [NewPassage(f"blue door note {i}", vectors[i], tags=["odd"] if i % 2 else [])
                                            for i in range(1, 12)])
    hits = store.search_passages(agent.id, PassageQuery(mode="hybrid", text="blue door key", embedding=vectors[0],
                                                        tags=["odd"], top_k=20))
    assert {h.passage.id for h in hits} == {p.id for p in mine if p.tags == ["odd"]}


@every_store
def test_filters_tags_dates_and_paging(workspace, agent):
    store = workspace.store
    start = datetime(2026, 3, 1, tzinfo=UTC)
    vectors = unit_vectors(40, seed=7)
    passages = [NewPassage(f"note {i}", vectors[i], tags=(["work"] if i % 2 else ["home"]) + (["urgent"] if i % 4 == 0 else []),
                           created_at=start + timedelta(days=i)) for i in range(40)]
    inserted = store.insert_passages(agent.id, passages)
    store.rebuild_vector_index(agent.id)
    query = PassageQuery(mode="vector", embedding=vectors[0], tags=["home", "urgent"], tag_match="all", top_k=100)
    hits = store.search_passages(agent.id, query)
    assert {h.passage.id for h in hits} == {inserted[i].id for i in range(0, 40, 4)}
    dated = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[0], top_k=100,
                                                         start=start + timedelta(days=10), end=start + timedelta(days=12)))
    assert {h.passage.id for h in dated} == {inserted[i].id for i in (10, 11, 12)}
    page1 = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[5], top_k=5))
    page2 = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[5], top_k=5, offset=5))
    both = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[5], top_k=10))
    assert [h.passage.id for h in page1 + page2] == [h.passage.id for h in both]
    listed = store.list_passages(agent.id, limit=15, tags=["work"])
    assert [p.text for p in listed] == [f"note {i}" for i in range(1, 30, 2)]
    following = store.list_passages(agent.id, after=listed[-1].id, limit=100, tags=["work"])
    assert [p.text for p in following] == [f"note {i}" for i in range(31, 40, 2)]


@every_store
def test_bad_embeddings_and_empty_text_insert_nothing(workspace, agent):
    store = workspace.store
    with pytest.raises(InvalidInput, match="one width"):
        store.insert_passages(agent.id, [NewPassage("x", np.ones(10, dtype=np.float32)), NewPassage("y", np.ones(9))])
    with pytest.raises(InvalidInput, match="NaN"):
        store.insert_passages(agent.id, [NewPassage("x", np.full(384, np.nan, dtype=np.float32))])
    with pytest.raises(InvalidInput, match="empty"):
        store.insert_passages(agent.id, [NewPassage("ok", unit_vectors(1)[0]), NewPassage("  ", unit_vectors(1)[0])])
    assert store.passage_stats(agent.id).total == 0


@every_store
def test_an_agent_keeps_one_width_and_agents_of_other_widths_search_their_own(workspace, agent):
    """Vectors of any width are stored; an agent's stay one width (a second width would leave
    some passages unreachable by its queries), and another agent's width is its own business."""
    from memos.errors import EmbeddingError
    from memos.store.base import NewAgent, PassageQuery

    store = workspace.store
    wide = store.create_agent(NewAgent(name="wide", system="s", model="m", embedding_model="openai/text-embedding-3-small",
                                       context_window=8192), [])
    narrow_vectors, wide_vectors = unit_vectors(40, seed=1), unit_vectors(40, seed=2, dim=1536)
    store.insert_passages(agent.id, [NewPassage(f"narrow {i}", v) for i, v in enumerate(narrow_vectors)])
    store.insert_passages(wide.id, [NewPassage(f"wide {i}", v) for i, v in enumerate(wide_vectors)])
    with pytest.raises(EmbeddingError, match="1536-dimension vectors .* these have 384"):
        store.insert_passages(wide.id, [NewPassage("stray", narrow_vectors[0])])
    for owner, vectors, prefix in ((agent, narrow_vectors, "narrow"), (wide, wide_vectors, "wide")):
        for mode in ("vector", "hybrid"):
            hits = store.search_passages(owner.id, PassageQuery(text=f"{prefix} 7", embedding=vectors[7], mode=mode,
                                                                top_k=3))
            assert hits[0].passage.text == f"{prefix} 7", (owner.name, mode)
            assert all(h.passage.text.startswith(prefix) for h in hits)
    assert store.passage_stats(wide.id).total == 40


def test_index_files_rebuild_when_lost(workspace, agent):
    store = workspace.store
    vectors = unit_vectors(30, seed=8)
    inserted = store.insert_passages(agent.id, [NewPassage(f"p{i}", vectors[i]) for i in range(30)])
    store.rebuild_vector_index(agent.id)
    for path in store._vectors.directory.iterdir():  # the sidecar is derived data
        path.unlink()
    hits = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[9], top_k=1))
    assert hits[0].passage.id == inserted[9].id


@every_store
def test_feedback_terms_bring_up_a_passage_without_the_query_words(workspace, agent):
    """Pseudo-relevance feedback: the best text hit's other words ('sunset', 'lake') find the
    passage that never says 'Melanie' or 'paint'; the vectors here are noise."""
    store = workspace.store
    texts = ["Melanie painted a sunset over the lake last summer.",
             "That sunset over the lake still hangs in her hallway."] + [f"filler note {i} about groceries"
                                                                          for i in range(20)]
    vectors = unit_vectors(len(texts), seed=11)
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, vectors)])
    query = unit_vectors(1, seed=12)[0]
    hits = store.search_passages(agent.id, PassageQuery(mode="hybrid", text="Melanie paint", embedding=query, top_k=2))
    assert [h.passage.id for h in hits] == [inserted[0].id, inserted[1].id]
    assert "sunset" in hits[1].explain["feedback_terms"] and hits[1].explain["text"]["rank"] is None
    plain = store.search_passages(agent.id, PassageQuery(mode="text", text="Melanie paint", top_k=5))
    assert [h.passage.id for h in plain] == [inserted[0].id]  # text search alone never finds it


@every_store
def test_the_passage_after_a_strong_hit_comes_up_with_it(workspace, agent):
    """Neighbour context: the answer stored right after the question that names the topic is
    found although it shares no word with the query; the vectors here are noise. (Without it,
    the answer ranks among the fillers by its random cosine.)"""
    store = workspace.store
    texts = [f"filler note {i} about the weekly groceries" for i in range(40)]
    texts[17] = "Caroline: What is your favourite colour for the new kitchen?"
    texts[18] = "Melanie: Definitely teal, like the sea at dawn."
    vectors = unit_vectors(len(texts), seed=13)
    # written together, as a conversation's turns are (a batch: neighbours lend within it only)
    inserted = store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts, vectors)], batch=1)
    query = PassageQuery(mode="hybrid", text="favourite colour kitchen", embedding=unit_vectors(1, seed=14)[0], top_k=5)
    hits = store.search_passages(agent.id, query)
    # The question first; then the passages up to two places on either side of it (the answer
    # among them), each lent half the question's score, above every other filler note.
    assert hits[0].passage.id == inserted[17].id
    assert {h.passage.id for h in hits[1:]} == {inserted[i].id for i in (15, 16, 18, 19)}
    answer = next(h for h in hits if h.passage.id == inserted[18].id)
    assert answer.explain["neighbour"]["offset"] == -1 and answer.explain["text"]["score"] == 0


def test_the_vector_graph_takes_the_width_of_the_agents_model(workspace, agent, monkeypatch):
    """DuckDB's usearch sidecar is built at the agent's width, and built again when the agent's
    vectors change width (a reembed to a model of another size)."""
    from memos.store.base import PassageQuery

    monkeypatch.setattr(vector_index, "TAIL_LIMIT", 8)
    store = workspace.store
    vectors = unit_vectors(30, seed=3, dim=768)
    store.insert_passages(agent.id, [NewPassage(f"note {i}", v) for i, v in enumerate(vectors)])
    state = store.rebuild_vector_index(agent.id)
    assert state.index is not None and state.index.ndim == 768 and state.indexed == 30
    hits = store.search_passages(agent.id, PassageQuery(embedding=vectors[11], mode="vector", top_k=1))
    assert hits[0].passage.text == "note 11"

    wider = unit_vectors(30, seed=4, dim=1024)
    seqs = [seq for seq, _ in store.reembed_pending(agent.id, "other/model", 100)]
    store.stage_vectors(agent.id, "other/model", seqs, wider)
    assert store.switch_embedding_model(agent.id, "other/model")
    hits = store.search_passages(agent.id, PassageQuery(embedding=wider[5], mode="vector", top_k=1))
    assert hits[0].passage.text == "note 5"
    assert store.rebuild_vector_index(agent.id).index.ndim == 1024


def test_postgres_searches_each_width_through_its_own_hnsw_index(postgres_url, monkeypatch):
    """pgvector indexes one width per graph: a partial expression index per width, which the
    search must hit (its expression and predicate repeated), or every query scans the table."""
    from memos.core.workspace import Workspace
    from memos.store.base import NewAgent, PassageQuery

    ws = Workspace()
    store = ws.store
    wide = store.create_agent(NewAgent(name="wide", system="s", model="m", embedding_model="openai/text-embedding-3-small",
                                       context_window=8192), [])
    vectors = unit_vectors(3000, seed=8, dim=1536)
    store.insert_passages(wide.id, [NewPassage(f"wide {i}", v) for i, v in enumerate(vectors)])
    with store._read() as con:
        con.execute("ANALYZE passages")
        indexes = {r[0] for r in con.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'passages'").fetchall()}

    def scans() -> int:
        with store._read() as con:
            return int(con.execute("SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes "
                                   "WHERE indexrelname = 'passages_embedding_1536'").fetchone()[0])

    assert {"passages_embedding_384", "passages_embedding_1536"} <= indexes
    before = scans()
    hits = store.search_passages(wide.id, PassageQuery(embedding=vectors[42], mode="vector", top_k=5))
    assert hits[0].passage.text == "wide 42"
    deadline = time.monotonic() + 10
    while scans() == before and time.monotonic() < deadline:  # the statistics are updated a little later
        time.sleep(0.1)
    assert scans() > before
    ws.close()
