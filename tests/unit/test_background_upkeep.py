"""A long-lived process's index upkeep after writes (duckdb/background.py): inserts return
without an index commit, searches are right at once, and the indexes catch up just after."""

from __future__ import annotations

import threading

from memos.store.base import NewPassage, PassageQuery
from memos.store.duckdb import vector_index
from tests.conftest import unit_vectors


def test_deferred_upkeep_keeps_search_right_and_catches_up(workspace, agent, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(vector_index, "TAIL_LIMIT", 50)
    import memos.store.duckdb.passages as passages_mod

    monkeypatch.setattr(passages_mod, "TAIL_LIMIT", 50)
    store = workspace.store
    store.defer_index_upkeep()
    vectors = unit_vectors(120, seed=4)
    stored = []
    for i in range(120):
        stored += store.insert_passages(agent.id, [NewPassage(f"note {i} about lighthouse{i}", vectors[i])])
        if i % 30 == 0:  # searched while the upkeep may be behind: still right
            hit = store.search_passages(agent.id, PassageQuery(mode="text", text=f"lighthouse{i}", top_k=1))
            assert hit[0].passage.id == stored[i].id
    assert store.wait_for_index_upkeep(60)
    texts = store._texts.state(agent.id, cached=False)
    assert texts.index is not None and texts.searcher().num_docs == 120  # caught up, in the background
    assert store.passage_stats(agent.id).indexed >= 70  # the vector index caught up past its tail limit
    for i in (3, 77, 119):
        assert store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[i], top_k=1))[0] \
            .passage.id == stored[i].id
        assert store.search_passages(agent.id, PassageQuery(mode="text", text=f"lighthouse{i}", top_k=1))[0] \
            .passage.id == stored[i].id


def test_concurrent_writers_and_searchers_with_deferred_upkeep(workspace, agent) -> None:  # type: ignore[no-untyped-def]
    store = workspace.store
    store.defer_index_upkeep()
    vectors = unit_vectors(80, seed=5)
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for i in range(offset, offset + 40):
                store.insert_passages(agent.id, [NewPassage(f"entry{i}", vectors[i])])
        except BaseException as exc:  # noqa: BLE001 -- collected for the assertion
            errors.append(exc)

    def search() -> None:
        try:
            for i in range(40):
                store.search_passages(agent.id, PassageQuery(mode="hybrid", text=f"entry{i}", embedding=vectors[i],
                                                             top_k=3))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(0,)), threading.Thread(target=write, args=(40,)),
               threading.Thread(target=search)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.wait_for_index_upkeep(60)
    assert store.passage_stats(agent.id).total == 80
    found = {store.search_passages(agent.id, PassageQuery(mode="text", text=f"entry{i}", top_k=1))[0].passage.text
             for i in range(80)}
    assert found == {f"entry{i}" for i in range(80)}
