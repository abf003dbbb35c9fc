"""Reads a turn repeats (an agent's row, tools, folders, blocks, the groups) are remembered while
this process alone may write the store; every write, here or in another process, is seen."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from memos.store.base import BlockChange, NewAgent, NewBlock, NewMessage, NewPassage, NewTool
from memos.store.sessions import ConnectionMemo
from tests.conftest import every_store, unit_vectors

SOURCE = 'def shout(text: str) -> str:\n    """Shout.\n\n    Args:\n        text: what to shout\n    """\n    return text.upper()\n'


def _agent(store, name: str = "ada"):  # type: ignore[no-untyped-def]
    return store.create_agent(NewAgent(name, "system", "openai/m", "local/all-MiniLM-L6-v2", 8000),
                              [NewBlock("persona", "I help.", 100)])


def _tool(name: str) -> NewTool:
    return NewTool(name, "Shout.", {"name": name, "parameters": {"type": "object", "properties": {}}},
                   SOURCE.replace("shout", name))


def _fields(tool: NewTool) -> tuple[object, ...]:
    return tool.name, tool.description, tool.json_schema, tool.source_code


def test_a_write_statement_forgets_only_the_reads_of_its_table() -> None:
    memo = ConnectionMemo()
    loads: list[str] = []

    def read(key: str, tables: set[str]) -> str:
        def load() -> str:
            loads.append(key)
            return key
        return memo.read((key,), frozenset(tables), load)

    read("tools", {"tools", "agent_tools"}), read("agent", {"agents"})
    read("tools", {"tools", "agent_tools"}), read("agent", {"agents"})
    assert loads == ["tools", "agent"]  # read once each
    memo.wrote("INSERT INTO messages (id) VALUES (?)")
    memo.wrote("  select 1")
    read("tools", {"tools", "agent_tools"}), read("agent", {"agents"})
    assert loads == ["tools", "agent"]  # neither table written
    memo.wrote("insert or replace into agent_tools (agent_id, tool_id) VALUES (?, ?)")
    read("tools", {"tools", "agent_tools"}), read("agent", {"agents"})
    assert loads == ["tools", "agent", "tools"]
    memo.wrote("ALTER TABLE agents ADD COLUMN x INT")  # not a statement it knows: forget everything
    read("tools", {"tools", "agent_tools"}), read("agent", {"agents"})
    assert loads == ["tools", "agent", "tools", "tools", "agent"]
    off = ConnectionMemo(enabled=False)  # PostgreSQL's: others write at any time
    off.read(("x",), frozenset(), lambda: loads.append("x"))
    off.read(("x",), frozenset(), lambda: loads.append("x"))
    assert loads[-2:] == ["x", "x"]


@every_store
def test_reads_see_this_process_writes_at_once_and_not_a_rolled_back_one(workspace) -> None:  # type: ignore[no-untyped-def]
    store = workspace.store
    agent = _agent(store)
    assert store.list_agent_tools(agent.id) == [] and store.get_agent(agent.id).description == ""
    store.attach_tool(agent.id, _tool("shout"))
    store.update_agent(agent.id, description="first")
    assert [t.name for t in store.list_agent_tools(agent.id)] == ["shout"]
    assert store.get_agent(agent.id).description == "first"
    with store.transaction():  # a read after a write in the same transaction sees it
        store.update_agent(agent.id, description="second")
        assert store.get_agent(agent.id).description == "second"
    with pytest.raises(RuntimeError), store.transaction():
        store.update_agent(agent.id, description="rolled back")
        store.attach_tool(agent.id, _tool("whisper"))
        assert store.get_agent(agent.id).description == "rolled back"
        raise RuntimeError("the transaction fails")
    assert store.get_agent(agent.id).description == "second"
    assert [t.name for t in store.list_agent_tools(agent.id)] == ["shout"]
    block = store.core_memory(agent.id).blocks[0]
    persona = store.get_agent_block(agent.id, "persona")
    store.modify_block(persona.id, lambda old: BlockChange("I help a lot.", old.limit, old.description, old.read_only),
                       actor="user", reason="test")
    assert store.core_memory(agent.id).blocks[0].value == "I help a lot." != block.value


@pytest.mark.parametrize("backend", ["duckdb", "postgres"], indirect=True)
def test_another_process_write_is_seen_by_the_next_read(workspace, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On DuckDB the reads are remembered while this process keeps its connection; another
    process that writes first makes it let go, and the memory goes with it."""
    store = workspace.store
    agent = _agent(store)
    assert store.list_agent_tools(agent.id) == [] and store.get_agent(agent.id).description == ""
    writer = tmp_path / "writer.py"
    writer.write_text(textwrap.dedent(f"""
        from memos.core.workspace import Workspace
        from memos.store.base import NewTool
        store = Workspace().store
        store.attach_tool({agent.id!r}, NewTool(*{_fields(_tool("shout"))!r}))
        store.update_agent({agent.id!r}, description="from elsewhere")
    """))
    done = subprocess.run([sys.executable, str(writer)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert [t.name for t in store.list_agent_tools(agent.id)] == ["shout"]
    assert store.get_agent(agent.id).description == "from elsewhere"


@every_store
def test_a_prompt_page_counts_and_running_runs_carried_past_writes_equal_a_fresh_read(workspace) -> None:  # type: ignore[no-untyped-def]
    """What append_messages, start_run and finish_run carry forward instead of reading again
    is what the database then holds."""
    store = workspace.store
    agent = _agent(store)
    talk = store.create_conversation(agent.id, name="side")

    def seen() -> tuple[object, ...]:
        return (store.list_messages(agent.id, limit=3, order="desc", in_context=True),
                store.list_messages(agent.id, limit=3, order="desc", in_context=True, conversation=talk.id),
                store.core_memory(agent.id).messages, store.running_runs(agent.id),
                store.running_runs(agent.id, conversation=None), store.running_runs(agent.id, conversation=talk.id))

    seen()  # remembered from here on (DuckDB)
    run = store.start_run(agent.id)
    other = store.start_run(agent.id, conversation_id=talk.id)
    store.append_messages(agent.id, [NewMessage("user", "one"), NewMessage("assistant", "two"),
                                     NewMessage("system", "hidden", in_context=False)])
    store.append_messages(agent.id, [NewMessage("user", "aside", conversation_id=talk.id)])
    store.append_messages(agent.id, [NewMessage("user", "three"), NewMessage("assistant", "four")])
    after_writes = seen()
    store.finish_run(run.id, "completed", "end_turn")
    after_finish = seen()
    store.insert_passages(agent.id, [NewPassage("a fact", unit_vectors(1, seed=3)[0])])
    after_passage = store.core_memory(agent.id).passages
    store._db.memo.clear()  # what a fresh read says
    assert [m.content for m in after_writes[0]] == ["four", "three", "two"]
    assert [m.content for m in after_writes[1]] == ["aside"]
    assert after_writes[2] == 6 and after_writes[3] == [run.id, other.id] and after_writes[4] == [run.id]
    assert after_writes[5] == [other.id]
    assert after_finish == seen() and after_finish[3] == [other.id] and after_finish[4] == []
    assert after_passage == store.core_memory(agent.id).passages == 1


@pytest.mark.parametrize("backend", ["duckdb"], indirect=True)
def test_the_remembered_tail_ranks_as_the_table_does_after_inserts_and_a_delete(workspace) -> None:  # type: ignore[no-untyped-def]
    """Passages past the vector index are scored from a remembered matrix that inserts extend;
    its ranking is the exact SQL one (a tag filter takes that path), and a delete is seen."""
    import numpy as np

    from memos.store.base import PassageQuery

    store = workspace.store
    agent = _agent(store)
    vectors = unit_vectors(60, seed=11)
    vectors[7] = vectors[3]  # a tie: the newer passage first
    store.insert_passages(agent.id, [NewPassage(f"p{i}", v, tags=["all"]) for i, v in enumerate(vectors[:30])])
    query = vectors[3] + 0.1 * vectors[40]

    def ranked(tags: tuple[str, ...] = ()) -> list[tuple[str, float]]:
        hits = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=query, top_k=12, tags=tags))
        return [(h.passage.text, round(h.score, 5)) for h in hits]

    assert ranked() == ranked(("all",))  # remembered matrix = exact SQL
    assert ranked()[:2] == [("p7", ranked()[0][1]), ("p3", ranked()[0][1])]
    store.insert_passages(agent.id, [NewPassage(f"p{i}", v, tags=["all"]) for i, v in enumerate(vectors[30:], 30)])
    carried = ranked()
    assert carried == ranked(("all",)) and "p40" in [text for text, _ in carried]
    store._db.memo.clear()
    assert carried == ranked()
    victim = next(p for p in store.list_passages(agent.id, limit=100) if p.text == "p7")
    store.delete_passages(agent.id, [victim.id])
    assert "p7" not in [text for text, _ in ranked()] and ranked() == ranked(("all",))
    assert np.isclose(ranked()[0][1], float(query @ vectors[3] / np.linalg.norm(query)), atol=1e-4)
