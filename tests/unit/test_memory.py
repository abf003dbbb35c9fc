"""Core memory blocks through core.memory against a real store (a DuckDB file, a PostgreSQL database)."""

from __future__ import annotations

import pytest

from memos.core import memory
from memos.core.agents import create_agent
from memos.errors import InvalidInput, LimitExceeded, NotFound, ReadOnly
from tests.conftest import every_store

pytestmark = every_store  # the store under test behaves the same on DuckDB and PostgreSQL


def test_new_agent_has_persona_and_human_with_letta_limits(workspace, agent):
    blocks = {b.label: b for b in workspace.store.list_agent_blocks(agent.id)}
    assert set(blocks) == {"persona", "human"}
    assert blocks["persona"].limit == 20_000 and blocks["human"].limit == 20_000
    assert blocks["human"].version == 1


def test_set_append_replace_and_history(workspace, agent):
    store = workspace.store
    memory.set_value(store, agent, "human", "Name: Ana")
    memory.append(store, agent, "human", "Likes tea", actor="agent", reason="learned")
    edit = memory.replace(store, agent, "human", "tea", "green tea", actor="agent")
    assert edit.after.value == "Name: Ana\nLikes green tea"
    versions = memory.history(store, agent, "human")
    assert [v.version for v in versions] == [1, 2, 3, 4]
    assert [v.actor for v in versions] == ["user", "user", "agent", "agent"]
    assert versions[2].reason == "learned"
    assert versions[3].old_value == "Name: Ana\nLikes tea"


def test_limit_is_enforced_with_sizes_in_message(workspace, agent):
    store = workspace.store
    memory.create(store, agent, "notes", "abc", limit=10)
    with pytest.raises(LimitExceeded, match=r"would be 14 chars, limit 10"):
        memory.append(store, agent, "notes", "0123456789")
    assert store.get_agent_block(agent.id, "notes").value == "abc"
    with pytest.raises(LimitExceeded, match="more than the new limit"):
        memory.update_settings(store, agent, "notes", limit=2)


def test_replace_requires_old_text_once(workspace, agent):
    store = workspace.store
    memory.set_value(store, agent, "human", "a b a")
    with pytest.raises(NotFound, match="does not occur"):
        memory.replace(store, agent, "human", "zzz", "y")
    with pytest.raises(InvalidInput, match="occurs 2 times"):
        memory.replace(store, agent, "human", "a", "c")
    assert memory.replace(store, agent, "human", "a", "c", replace_all=True).after.value == "c b c"


def test_read_only_refuses_agent_but_not_person(workspace, agent):
    store = workspace.store
    memory.create(store, agent, "rules", "be kind", limit=100, read_only=True)
    with pytest.raises(ReadOnly):
        memory.append(store, agent, "rules", "x", actor="agent")
    with pytest.raises(ReadOnly):
        memory.set_value(store, agent, "rules", "x", actor="sleep")
    assert memory.set_value(store, agent, "rules", "be very kind", actor="user").after.value == "be very kind"


def test_undo_walks_back_and_rollback_restores(workspace, agent):
    store = workspace.store
    for value in ("v2", "v3", "v4"):
        memory.set_value(store, agent, "human", value)
    assert memory.undo(store, agent, "human").after.value == "v3"
    assert memory.undo(store, agent, "human").after.value == "v2"
    original = memory.history(store, agent, "human")[0].new_value
    assert memory.undo(store, agent, "human").after.value == original
    with pytest.raises(InvalidInput, match="nothing to undo"):
        memory.undo(store, agent, "human")
    assert memory.rollback(store, agent, "human", 4).after.value == "v4"
    latest = memory.history(store, agent, "human")[-1]
    assert latest.restored_from == 4 and latest.reason == "rollback to version 4"
    with pytest.raises(NotFound, match="no version 99"):
        memory.rollback(store, agent, "human", 99)


def test_shared_block_edits_show_in_both_agents(workspace, agent):
    store = workspace.store
    other = create_agent(workspace, "bea")
    shared = memory.create(store, agent, "team", "We build memos.", limit=1000)
    memory.attach(store, other, shared.id)
    memory.append(store, other, "team", "Release on Friday.", actor="agent")
    assert store.get_agent_block(agent.id, "team").value == "We build memos.\nRelease on Friday."
    assert store.get_agent_block(agent.id, "team").shared
    with pytest.raises(InvalidInput, match="shared with 1 other agent"):
        memory.delete(store, agent, "team")
    memory.detach(store, other, "team")
    memory.delete(store, agent, "team")
    with pytest.raises(NotFound):
        store.get_block(shared.id)


def test_unknown_block_lists_the_real_ones(workspace, agent):
    with pytest.raises(NotFound, match="no block labelled 'hmn'") as info:
        memory.set_value(workspace.store, agent, "hmn", "x")
    assert "persona, human" in str(info.value)


def test_deleting_agent_keeps_blocks_shared_with_others(workspace, agent):
    store = workspace.store
    other = create_agent(workspace, "bea")
    shared = memory.create(store, agent, "team", "shared", limit=100)
    memory.attach(store, other, shared.id)
    store.delete_agent(agent.id)
    assert store.get_agent_block(other.id, "team").agent_ids == (other.id,)
    assert [a.name for a in store.list_agents()] == ["bea"]
