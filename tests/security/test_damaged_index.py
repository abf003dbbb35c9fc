"""A damaged vector index sidecar is rebuilt from the table, never trusted.

On 6c4d22d an empty or truncated `<agent>.usearch` (a power cut: it was renamed into place
without fsync) made every archival search fail, `archival add` report failure after saving,
and `memos doctor` crash; truncated under a running process it killed it with SIGBUS. A
healthy agent with fewer than 2,049 passages was reported as a problem by `doctor --no-repair`."""

from __future__ import annotations

from pathlib import Path

import pytest

from memos.store.base import NewPassage, PassageQuery
from tests.conftest import unit_vectors


def _index_file(workspace, agent) -> Path:  # type: ignore[no-untyped-def]
    return Path(f"{workspace.home.database}.vectors") / f"{agent.id}.usearch"


def _search(store, agent, vector):  # type: ignore[no-untyped-def]
    return store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vector, top_k=3))


@pytest.mark.parametrize("damage", ["empty", "half", "garbage"])
def test_a_damaged_index_is_not_trusted_and_is_rebuilt(workspace, agent, damage: str) -> None:  # type: ignore[no-untyped-def]
    store = workspace.store
    vectors = unit_vectors(60, seed=7)
    stored = store.insert_passages(agent.id, [NewPassage(f"p{i}", vectors[i]) for i in range(50)])
    store.rebuild_vector_index(agent.id)
    path = _index_file(workspace, agent)
    size = path.stat().st_size
    with path.open("r+b") as file:
        if damage == "garbage":
            file.write(b"\x00junk" * 100)
        else:
            file.truncate(0 if damage == "empty" else size // 2)

    assert _search(store, agent, vectors[17])[0].passage.id == stored[17].id  # scored exactly meanwhile
    late = store.insert_passages(agent.id, [NewPassage("late", vectors[55])])  # saved, and said so
    assert len(late) == 1 and store.passage_stats(agent.id).total == 51
    findings = {f.check: f.status for f in store.check_agent(agent.id, repair=False)}
    assert findings["vector index"] == "problem"
    state = store.rebuild_vector_index(agent.id)  # what doctor's repair does
    assert state.index is not None and state.indexed == 51 and not state.damaged
    assert _search(store, agent, vectors[55])[0].passage.id == late[0].id


def test_an_index_truncated_under_a_running_process_does_not_kill_it(workspace, agent) -> None:  # type: ignore[no-untyped-def]
    store = workspace.store
    vectors = unit_vectors(300, seed=8)
    stored = store.insert_passages(agent.id, [NewPassage(f"p{i}", vectors[i]) for i in range(300)])
    store.rebuild_vector_index(agent.id)
    assert _search(store, agent, vectors[3])[0].passage.id == stored[3].id  # the file is now memory-mapped
    path = _index_file(workspace, agent)
    with path.open("r+b") as file:
        file.truncate(4096)  # in place, under the map (SIGBUS on 6c4d22d)
    for i in (3, 150, 299):
        assert _search(store, agent, vectors[i])[0].passage.id == stored[i].id


def test_doctor_rebuilds_a_damaged_index_and_passes_a_healthy_one(memos, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "create", "ada").code == 0
    for text in ("Ana's cat is called Miso.", "The staging database listens on port 5433.", "Ana likes oolong."):
        assert memos("archival", "add", text).code == 0
    healthy = memos("doctor", "--no-repair")
    assert healthy.code == 0, healthy.out + healthy.err  # 3 passages and no index file is by design
    assert "vector index" not in healthy.out + healthy.err or "problem" not in (healthy.out + healthy.err).lower()

    from memos.core.workspace import Workspace

    ws = Workspace()
    agent = ws.store.get_agent("ada")
    ws.store.rebuild_vector_index(agent.id)
    ws.close()
    path = Path(f"{memos_home / 'memos.duckdb'}.vectors") / f"{agent.id}.usearch"
    path.write_bytes(b"")
    found = memos("archival", "search", "what is the cat called", "--mode", "vector", "-k", "1", "--json")
    assert found.code == 0, found.err
    assert "Miso" in found.json()[0]["text"]
    added = memos("archival", "add", "Ana moved to Lisbon.")
    assert added.code == 0, added.err
    checked = memos("doctor", "--no-repair", "--json")
    assert checked.code == 1 and "vector index" in checked.out
    repaired = memos("doctor")
    assert repaired.code == 0, repaired.out + repaired.err
    assert memos("doctor", "--no-repair").code == 0
    assert len(memos("archival", "list", "--json").json()) == 4  # nothing stored twice
