"""`memos db migrate-to`: a DuckDB store copied into PostgreSQL, verified, all or nothing;
and `memos db info` naming the backend in use."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from memos.store.base import (
    ALL_CONVERSATIONS,
    BlockChange,
    CanaryCall,
    FileChunk,
    NewAgent,
    NewBlock,
    NewMessage,
    NewPassage,
    NewTool,
    PassageQuery,
    StepRecord,
    ToolCallRecord,
)
from memos.store.migrations import migrations_for
from tests.conftest import unit_vectors


@pytest.fixture
def target(postgres_database: str) -> str:
    """An empty PostgreSQL database to migrate into; memos itself keeps using DuckDB."""
    return postgres_database


def _fill(store) -> dict:  # type: ignore[no-untyped-def]
    """A store with some of everything: shared and edited blocks, many messages, passages with
    tags, tools, a step with tool calls, an evolution with reports, a fact."""
    ada = store.create_agent(NewAgent("ada", "You are Ada.", "openai/m", "local/all-MiniLM-L6-v2", 8000,
                                      tool_rules=[{"type": "exit_loop", "tool_name": "send_message"}],
                                      metadata={"team": "core"}), [NewBlock("persona", "I help.", 200)])
    bob = store.create_agent(NewAgent("bob", "You are Bob.", "openai/m", "local/all-MiniLM-L6-v2", 8000), [])
    shared = store.create_block(NewBlock("project", "memos", 500, "shared notes"), actor="user", reason="t", agent_id=ada.id)
    store.attach_block(bob.id, shared.id)
    for i in range(3):
        store.modify_block(shared.id, lambda b, i=i: BlockChange(b.value + f" v{i}", b.limit, b.description, b.read_only),
                           actor="agent", reason=f"edit {i}")
    store.append_messages(ada.id, [NewMessage("user" if i % 2 else "assistant", f"message {i} ünïcode ✓",
                                              tool_calls=[{"id": f"c{i}", "function": {"name": "f"}}] if i % 7 == 0 else None)
                                   for i in range(120)])
    vectors = unit_vectors(300, seed=11)
    store.insert_passages(ada.id, [NewPassage(f"fact number {i}", vectors[i], tags=["even" if i % 2 == 0 else "odd"])
                                   for i in range(300)])
    store.insert_passages(bob.id, [NewPassage("bob's only fact", vectors[0])])
    wide = store.create_agent(NewAgent("wide", "You are Wide.", "openai/m", "openai/text-embedding-3-small", 8000), [])
    store.insert_passages(wide.id, [NewPassage(f"wide fact {i}", v)
                                    for i, v in enumerate(unit_vectors(20, seed=12, dim=1536))], batch=7)
    store.attach_tool(ada.id, NewTool("weather", "Weather.", {"name": "weather", "parameters": {}}, "def weather(): ...", "abc"))
    store.save_library_tool(NewTool("roll", "Dice.", {"name": "roll"}, "def roll(): return 4"))
    run = store.start_run(ada.id)
    store.record_step(ada.id, StepRecord(run.id, "openai/m", 100, 20, 0.0012, 33.3, "end_turn"),
                      [NewMessage("assistant", "done")],
                      [ToolCallRecord("toolcall-x", ada.id, "c1", "weather", '{"city": "Oslo"}', "sunny", "success", 4.5)])
    store.finish_run(run.id, "completed", "end_turn")
    manuals = store.create_folder("manuals", description="how-tos", metadata={"v": 1},
                                  embedding_model="local/all-MiniLM-L6-v2")
    guide = store.add_file(manuals.id, file_name="guide.md", original_file_name="guide.md", file_type="text/markdown",
                           content="step one\nstep two", chunks=[FileChunk(1, "step one\nstep two", vectors[5])])
    store.attach_folder(ada.id, manuals.id)
    store.open_file(ada.id, guide.id, 1, 2)
    store.create_group("sleeptime", ada.id, [bob.id], description="pair", frequency=2)
    side = store.create_conversation(ada.id, name="side", summary="a side thread", model="openai/other")
    store.update_conversation(side.id, touched=True)
    store.keep_system_message(ada.id, side.id, "You are Ada. (the side thread's prompt as last read)")
    side_run = store.start_run(ada.id, conversation_id=side.id)
    store.append_messages(ada.id, [NewMessage("user", "in the side thread", run_id=side_run.id,
                                              conversation_id=side.id)])
    evo = store.create_evolution(ada.id, "evolve/2026-11-25-weather", "abc", title="cache", rationale="slow")
    store.update_evolution(evo.id, status="canary", test_report={"passed": 2}, shadow_report={"changed": []},
                           canary={"mode": "shadow", "tools": ["weather"]}, stages=[{"stage": "load and test"}],
                           utility={"score": 1.5}, usage={"tokens": 240}, reason="tests passed")
    store.record_canary_calls([CanaryCall("canary-x", evo.id, ada.id, "weather", "c1", "old", "ok", 4.5, 5,
                                          shadow_outcome="error", shadow_ms=6.0, differs=False)])
    store.set_meta("evolve.last_pass.ada", "2026-11-25T03:00:00")
    store.set_step_feedback(store.list_steps(limit=1)[0].id, "positive", ["clear"])
    store.create_identity("user-1", "Sam", "user", properties=[{"key": "plan", "value": "pro", "type": "string"}],
                          agent_ids=[ada.id], block_ids=[shared.id])
    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    daily = store.create_schedule(ada.id, [{"role": "user", "content": "plan my day"}], {"max_steps": 2},
                                  cron_expression="0 8 * * *", time_zone="Europe/Lisbon", scheduled_at=None,
                                  next_run_at=at)
    store.claim_schedule(daily.id, at, at + timedelta(days=1), "test")
    handbook = store.create_archive("handbook", "local/all-MiniLM-L6-v2", metadata={"team": "core"})
    store.insert_passages(handbook.id, [NewPassage("shared fact", vectors[9], tags=["team"])])
    store.attach_archive(bob.id, handbook.id, True)
    return {"ada": ada, "bob": bob, "vectors": vectors}


def ids_of(store) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {a.name: a.id for a in store.list_agents()}


def _view(store, agent_ids):  # type: ignore[no-untyped-def]
    """What a user can see of a store through its interface."""
    view = {"agents": store.list_agents(), "blocks": store.list_blocks(), "tools": store.list_tools(),
            "evolutions": store.list_evolutions(), "meta": store.get_meta("evolve.last_pass.ada"),
            "canary_calls": [store.list_canary_calls(e.id) for e in store.list_evolutions()],
            "runs": store.list_runs(limit=100), "steps": store.list_steps(limit=100),
            "conversations": store.list_conversations(), "folders": store.list_folders(),
            "groups": store.list_groups(), "identities": store.list_identities(),
            "schedules": store.list_schedules(), "scheduled_runs": store.scheduled_runs(),
            "archives": store.list_archives(), "bob_archives": store.agent_archives(ids_of(store)["bob"]),
            "archive_passages": [store.list_passages(a.id) for a in store.list_archives()],
            "system_messages": [store.kept_system_message(c.agent_id, c.id) for c in store.list_conversations()],
            "files": [store.list_files(f.id) for f in store.list_folders()],
            "chunks": [(fid, c.start_line, c.text, c.embedding.tolist())
                       for fid, c in store.folder_chunks([f.id for f in store.list_folders()])]}
    for agent_id in agent_ids:
        view[agent_id] = {
            "messages": store.list_messages(agent_id, limit=1000, order="asc", conversation=ALL_CONVERSATIONS),
            "passages": store.list_passages(agent_id, limit=1000),
            "tool_calls": store.list_tool_calls(agent_id),
            "history": [store.block_history(b.id) for b in store.list_agent_blocks(agent_id)],
            "agent_files": store.agent_files(agent_id),
        }
    return view


def test_everything_is_copied_verified_and_usable(workspace, target, memos):
    made = _fill(workspace.store)
    ids = [made["ada"].id, made["bob"].id]
    before = _view(workspace.store, ids)
    workspace.close()

    result = memos("db", "migrate-to", target, "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["verified"] is True
    assert {name: t["rows"] for name, t in report["tables"].items()} == {
        "store_meta": 1, "agents": 3, "blocks": 2, "agent_blocks": 3, "block_history": 5, "messages": 122,
        "conversations": 1, "passages": 322, "tools": 2, "agent_tools": 1, "runs": 2, "folders": 1,
        "folder_files": 1, "file_chunks": 1, "agent_folders": 1, "agent_files": 1, "agent_groups": 1, "steps": 1, "tool_calls": 1, "evolutions": 1,
        "canary_calls": 1, "identities": 1, "identity_members": 2, "scheduled_messages": 1, "scheduled_runs": 1,
        "archives": 1, "agent_archives": 1, "system_messages": 1}
    assert "passages: 322 rows copied and verified" in result.err

    from memos.store.postgres.store import PostgresStore

    copy = PostgresStore(target)
    try:
        assert _view(copy, ids) == before  # ids, seqs, times, JSON, tags: all as they were
        query = PassageQuery(mode="vector", embedding=made["vectors"][42], top_k=3)
        hits = copy.search_passages(made["ada"].id, query)
        assert hits[0].passage.text == "fact number 42" and hits[0].score == pytest.approx(1.0, abs=1e-5)
        text = copy.search_passages(made["ada"].id, PassageQuery(mode="text", text="number 7", top_k=300))
        assert "fact number 7" in [h.passage.text for h in text]
    finally:
        copy.close()

    import psycopg

    with psycopg.connect(target) as con:  # the passage indexes, rebuilt after the copy
        indexes = {r[0] for r in con.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'passages'")}
    # one HNSW graph per width (the 1536-wide agent's made for it)
    assert {"passages_embedding_384", "passages_embedding_1536", "passages_tsv", "passages_seq"} <= indexes

    # memos works on the copy, and says which backend it uses.
    info = memos("db", "info", "--json", env={"MEMOS_DATABASE_URL": target}).json()
    assert info["backend"] == "postgresql" and info["selected_by"] == "MEMOS_DATABASE_URL"
    assert (info["agents"], info["messages"], info["passages"]) == (3, 122, 321)
    assert info["schema_version"] == migrations_for("postgresql")[-1].id
    shown = memos("memory", "show", "project", "--agent", "bob", env={"MEMOS_DATABASE_URL": target})
    assert shown.out.strip() == "memos v0 v1 v2"
    assert memos("db", "info", "--json").json()["backend"] == "duckdb"  # without the variable: the file


def test_a_failed_copy_leaves_the_target_empty(workspace, target, memos):
    made = _fill(workspace.store)
    # PostgreSQL text cannot hold a NUL byte; DuckDB's can. The copy fails at that message,
    # after agents and blocks went in: all of it must be rolled back.
    workspace.store.append_messages(made["ada"].id, [NewMessage("user", "a NUL \x00 inside")])
    workspace.close()
    result = memos("db", "migrate-to", target)
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("error: copying messages into PostgreSQL failed at row 123")
    assert "nothing was kept in the target" in lines[-1] and "Traceback" not in result.err

    import psycopg

    with psycopg.connect(target) as con:
        counts = [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("agents", "blocks", "messages")]
        meta = con.execute("SELECT key FROM store_meta").fetchall()
    assert counts == [0, 0, 0] and meta == [("store_id",)]


def test_refusals_are_one_clear_line(workspace, target, memos, tmp_path):
    _fill(workspace.store)
    workspace.close()
    assert memos("db", "migrate-to", target).code == 0
    again = memos("db", "migrate-to", target)
    assert again.code == 1 and "already holds 3 agent(s)" in again.err and len(again.err.strip().splitlines()) == 1
    wrong = memos("db", "migrate-to", "mysql://x/y")
    assert wrong.code == 1 and "is not a PostgreSQL URL" in wrong.err
    missing = memos("db", "migrate-to", target, "--from", str(tmp_path / "nothing.duckdb"))
    assert missing.code == 1 and "there is no DuckDB store at" in missing.err
    unreachable = memos("db", "info", env={"MEMOS_DATABASE_URL": f"postgresql://nobody@/x?host={tmp_path}"})
    assert unreachable.code == 1
    assert unreachable.err.startswith("error: cannot use the PostgreSQL database postgresql://nobody@/x")
    assert len(unreachable.err.strip().splitlines()) == 1 and os.environ.get("MEMOS_DATABASE_URL") is None


def test_a_copy_that_reads_back_different_is_rolled_back(workspace, target, monkeypatch):
    """The checksums catch a value PostgreSQL stored differently (here: one embedding component)."""
    import numpy as np

    from memos.store import transfer
    from memos.store.postgres.store import PostgresStore

    _fill(workspace.store)
    real_rows = transfer._postgres_rows

    def one_float_off(raw, table):  # type: ignore[no-untyped-def]
        for i, row in enumerate(real_rows(raw, table)):
            if table.name == "passages" and i == 150:
                embedding = np.array(row[5], dtype=np.float32)
                embedding[7] = np.nextafter(embedding[7], np.float32(2))
                row = (*row[:5], embedding, *row[6:])
            yield row

    monkeypatch.setattr(transfer, "_postgres_rows", one_float_off)
    copy = PostgresStore(target)
    try:
        with pytest.raises(transfer.TransferFailed, match="passages did not verify: 322 rows sent, 322 stored"):
            transfer.migrate_to_postgres(workspace.store, copy)
        assert copy.list_agents() == [] and copy.list_tools() == []
    finally:
        copy.close()


def test_config_database_url_selects_postgresql(target, memos):
    assert memos("config", "set", "database_url", target).code == 0
    info = memos("db", "info", "--json").json()
    assert (info["backend"], info["selected_by"]) == ("postgresql", "config database_url")
    assert memos("agents", "create", "ada").code == 0
    from memos.store.postgres.store import PostgresStore

    store = PostgresStore(target)
    try:
        assert [a.name for a in store.list_agents()] == ["ada"]  # written to PostgreSQL, not the file
    finally:
        store.close()
