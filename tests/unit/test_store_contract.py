"""The rest of the `Store` interface, on both backends: agents, runs and steps, tool calls and
approvals, tools, evolutions, small facts, and what deleting an agent takes with it."""

from __future__ import annotations

import pytest

from memos.errors import AlreadyExists, InvalidInput, NotFound
from memos.store.base import NewAgent, NewBlock, NewMessage, NewPassage, NewTool, StepRecord, ToolCallRecord
from tests.conftest import every_store, unit_vectors

pytestmark = every_store


def _agent(store, name: str = "ada"):  # type: ignore[no-untyped-def]
    return store.create_agent(NewAgent(name, "system", "openai/m", "local/all-MiniLM-L6-v2", 8000),
                              [NewBlock("persona", "I help.", 100)])


def test_agents_names_are_unique_and_rename_keeps_identity(workspace):
    store = workspace.store
    ada = _agent(store)
    with pytest.raises(AlreadyExists):
        _agent(store)
    bob = _agent(store, "bob")
    with pytest.raises(AlreadyExists):
        store.update_agent(bob.id, name="ada")
    renamed = store.update_agent(ada.id, name="ada2", metadata={"team": "x"}, tool_rules=[{"type": "exit_loop"}])
    assert renamed.id == ada.id and store.get_agent("ada2").metadata == {"team": "x"}
    assert store.get_agent(ada.id).tool_rules == [{"type": "exit_loop"}]
    assert [a.name for a in store.list_agents()] == ["ada2", "bob"]
    with pytest.raises(NotFound):
        store.get_agent("ada")


def test_a_step_with_a_pending_call_waits_for_approval_and_settles_once(workspace):
    store = workspace.store
    agent = _agent(store)
    run = store.start_run(agent.id)
    call = ToolCallRecord("toolcall-1", agent.id, "call_1", "archival_memory_insert", '{"content": "x"}', None,
                          "pending", None)
    step_id, stored = store.record_step(agent.id, StepRecord(run.id, "openai/m", 10, 5, 0.001, 12.5, "requires_approval"),
                                        [NewMessage("assistant", "", tool_calls=[{"id": "call_1"}])], [call])
    assert stored[0].step_id == step_id and stored[0].run_id == run.id
    pending = store.pending_tool_calls(agent.id)
    assert [(p.name, p.arguments, p.step_id) for p in pending] == [("archival_memory_insert", '{"content": "x"}', step_id)]
    message = store.resolve_tool_call("toolcall-1", status="denied", result="no", duration_ms=None,
                                      message=NewMessage("tool", "denied: no", tool_call_id="call_1"))
    assert message.role == "tool" and message.seq == stored[-1].seq + 1
    assert store.pending_tool_calls(agent.id) == []
    with pytest.raises(NotFound):
        store.resolve_tool_call("toolcall-1", status="success", result="", duration_ms=1.0,
                                message=NewMessage("tool", "again"))
    store.finish_run(run.id, "completed", "requires_approval")
    assert [c.status for c in store.list_tool_calls(agent.id)] == ["denied"]


def test_tools_attach_refresh_detach_and_library(workspace):
    store = workspace.store
    agent = _agent(store)
    first = store.attach_tool(agent.id, NewTool("weather", "v1", {"name": "weather"}, "def weather(): ...", "abc"))
    second = store.attach_tool(agent.id, NewTool("weather", "v2", {"name": "weather", "x": 1}, None, "def"))
    assert first.id == second.id and second.description == "v2" and second.repo_commit == "def"
    assert [t.json_schema for t in store.list_agent_tools(agent.id)] == [{"name": "weather", "x": 1}]
    library = store.save_library_tool(NewTool("roll", "dice", {"name": "roll"}, "def roll(): ..."))
    again = store.save_library_tool(NewTool("roll", "dice v2", {"name": "roll"}, "def roll(): return 4"))
    assert library.id == again.id and store.get_tool(library.id).source_code == "def roll(): return 4"
    assert sorted(t.name for t in store.list_tools()) == ["roll", "weather"]
    assert {k: [t.name for t in v] for k, v in store.tools_by_agent([agent.id]).items()} == {agent.id: ["weather"]}
    assert store.detach_tool(agent.id, "weather") is True and store.detach_tool(agent.id, "weather") is False
    with pytest.raises(NotFound):
        store.get_tool(first.id)


def test_evolutions_by_prefix_with_reports_and_meta(workspace):
    store = workspace.store
    agent = _agent(store)
    evo = store.create_evolution(agent.id, "evolve/2026-11-25-fix", "abc123", title="fix", rationale="errors")
    updated = store.update_evolution(evo.id, status="pending", head_commit="def456",
                                     test_report={"passed": 3, "failed": 0}, shadow_report={"fixed": ["x"]})
    assert updated.test_report == {"passed": 3, "failed": 0} and updated.shadow_report == {"fixed": ["x"]}
    assert store.get_evolution(evo.id[4:12]).id == evo.id  # a prefix without "evo-"
    assert [e.id for e in store.list_evolutions(agent.id, status="pending")] == [evo.id]
    assert store.list_evolutions(status="accepted") == []
    other = store.create_evolution(agent.id, "evolve/other", None)
    with pytest.raises(InvalidInput):
        store.get_evolution("evo-")  # matches both
    assert store.get_evolution(other.id).status == "running"
    assert store.get_meta("evolve.last_pass") is None
    store.set_meta("evolve.last_pass", "1")
    store.set_meta("evolve.last_pass", "2")
    assert store.get_meta("evolve.last_pass") == "2"


def test_deleting_an_agent_takes_its_data_and_leaves_others(workspace):
    store = workspace.store
    ada, bob = _agent(store), _agent(store, "bob")
    for agent in (ada, bob):
        store.append_messages(agent.id, [NewMessage("user", f"hi from {agent.name}")])
        store.insert_passages(agent.id, [NewPassage(f"fact of {agent.name}", unit_vectors(1)[0], tags=["t"])])
        store.attach_tool(agent.id, NewTool("t", "", {"name": "t"}))
        store.create_evolution(agent.id, "evolve/x", None)
    store.delete_agent(ada.id)
    assert [a.name for a in store.list_agents()] == ["bob"]
    counts = store.agent_counts(bob.id)
    assert (counts.messages, counts.passages, counts.blocks) == (1, 1, 1)
    assert [t.name for t in store.list_tools()] == ["t"] and len(store.list_evolutions()) == 1
    assert store.agent_counts(ada.id).messages == 0


def test_in_context_flags_and_core_memory(workspace):
    store = workspace.store
    agent = _agent(store)
    messages = store.append_messages(agent.id, [NewMessage("user", f"m{i}") for i in range(5)])
    store.set_in_context(agent.id, [m.id for m in messages[:3]], False)
    assert [m.content for m in store.list_messages(agent.id, in_context=True, order="asc")] == ["m3", "m4"]
    assert store.message_stats(agent.id).in_context == 2
    core = store.core_memory(agent.id)
    assert [(b.label, b.value, b.limit) for b in core.blocks] == [("persona", "I help.", 100)]
    assert (core.messages, core.passages) == (5, 0)


def test_a_waiting_turn_goes_before_a_newcomer(workspace):
    """A pipeline that ends a turn and starts the next at once must not starve the others:
    whoever tried while the turn was taken gets it before anyone who comes later."""
    store = workspace.store
    agent = _agent(store)
    first, waiting, newcomer = (store.turn_lock(agent.id) for _ in range(3))
    try:
        assert first.try_acquire()
        assert not waiting.try_acquire()  # now in line
        first.release()
        assert not newcomer.try_acquire()  # free, but someone was waiting first
        assert waiting.try_acquire()
        assert not first.try_acquire()  # the old holder queues like anyone
        waiting.release()
        first.release()  # leaves the line
        assert newcomer.try_acquire()
    finally:
        for lock in (first, waiting, newcomer):
            lock.release()


def test_one_turn_of_an_agent_at_a_time_across_processes(workspace, tmp_path):
    """The turn lock excludes another process (here: a second process's lock on the same store),
    says who holds it, frees at release, and lets a later holder close what a dead turn left."""
    import subprocess
    import sys
    import textwrap

    store = workspace.store
    agent = _agent(store)
    left = store.start_run(agent.id)  # a run whose process died mid-turn
    mine = store.turn_lock(agent.id)
    assert mine.try_acquire()
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(f"""
        from memos.core.workspace import Workspace
        lock = Workspace().store.turn_lock({agent.id!r})
        print(lock.try_acquire(), lock.holder())
    """))
    other = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=60)
    assert other.stdout.split()[0] == "False", other.stderr
    import os
    assert f"pid {os.getpid()}" in other.stdout
    assert store.running_runs(agent.id) == [left.id]
    assert store.interrupt_running_runs(agent.id) == [left.id]
    assert store.running_runs(agent.id) == [] and store.interrupt_running_runs(agent.id) == []
    mine.release()
    after = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=60)
    assert after.stdout.split()[0] == "True", after.stderr


def test_a_block_is_relabelled_for_every_agent_unless_one_has_the_label(workspace):
    store = workspace.store
    ada, bob = _agent(store), _agent(store, "bob")
    shared = store.create_block(NewBlock("team", "Both of us.", 100), actor="user", reason="test")
    for agent in (ada, bob):
        store.attach_block(agent.id, shared.id)
    store.create_block(NewBlock("notes", "Bob's.", 100), actor="user", reason="test", agent_id=bob.id)
    with pytest.raises(AlreadyExists, match="agent 'bob' already has a block labelled 'notes'"):
        store.relabel_block(shared.id, "notes")
    assert store.get_block(shared.id).label == "team"  # nothing changed
    renamed = store.relabel_block(shared.id, "crew")
    assert renamed.label == "crew" and renamed.value == "Both of us." and renamed.version == shared.version
    assert store.get_agent_block(ada.id, "crew").id == store.get_agent_block(bob.id, "crew").id == shared.id
    with pytest.raises(NotFound):
        store.get_agent_block(ada.id, "team")


def test_tool_tags_and_return_char_limit_are_kept_and_left_alone_when_not_given(workspace):
    store = workspace.store
    agent = _agent(store)
    schema = {"name": "t", "description": "T.", "parameters": {"type": "object", "properties": {}}}
    first = store.attach_tool(agent.id, NewTool("t", "T.", schema, "src", None, tags=["a", "b"], return_char_limit=300))
    assert (first.tags, first.return_char_limit) == (["a", "b"], 300)
    again = store.attach_tool(agent.id, NewTool("t", "T, again.", schema, "src2"))  # settings not given: kept
    assert (again.tags, again.return_char_limit, again.description) == (["a", "b"], 300, "T, again.")
    library = store.save_library_tool(NewTool("lib", "L.", schema, "code", tags=["x"], source_type="python"))
    assert library.tags == ["x"] and library.return_char_limit is None


def test_conversations_keep_their_messages_pending_calls_and_runs_apart(workspace):
    from memos.store.base import ALL_CONVERSATIONS

    store = workspace.store
    agent = _agent(store)
    other = _agent(store, "bob")
    ticket = store.create_conversation(agent.id, name="ticket", summary="printer", model="openai/other")
    assert ticket.id.startswith("conv-") and store.find_conversation(agent.id, "ticket") == ticket
    assert store.find_conversation(agent.id, ticket.id) == ticket
    with pytest.raises(AlreadyExists):
        store.create_conversation(agent.id, name="ticket")
    store.create_conversation(other.id, name="ticket")  # names are per agent
    with pytest.raises(InvalidInput):
        store.create_conversation(agent.id, name="two words")
    with pytest.raises(NotFound):
        store.find_conversation(other.id, ticket.id)

    store.append_messages(agent.id, [NewMessage("user", "own thread")])
    run = store.start_run(agent.id, conversation_id=ticket.id)
    assert store.get_run(run.id).conversation_id == ticket.id
    call = ToolCallRecord("toolcall-t", agent.id, "call_t", "shout", "{}", None, "pending", None)
    store.record_step(agent.id, StepRecord(run.id, "openai/m", 1, 1, None, 1.0, "requires_approval"),
                      [NewMessage("user", "ticket thread", conversation_id=ticket.id),
                       NewMessage("assistant", "", tool_calls=[{"id": "call_t"}], conversation_id=ticket.id)], [call])
    assert [m.content for m in store.list_messages(agent.id)] == ["own thread"]
    assert [m.content for m in store.list_messages(agent.id, conversation=ticket.id, order="asc")] == [
        "ticket thread", ""]
    assert len(store.list_messages(agent.id, conversation=ALL_CONVERSATIONS)) == 3
    assert store.pending_tool_calls(agent.id, None) == []
    assert [c.tool_call_id for c in store.pending_tool_calls(agent.id, ticket.id)] == ["call_t"]
    assert [r.run.id for r in store.list_runs(conversation_id=ticket.id)] == [run.id]

    forked = store.fork_conversation(agent.id, ticket.id, name="copy")
    copied = store.list_messages(agent.id, conversation=forked.id, order="asc")
    assert [m.content for m in copied] == ["ticket thread", ""] and copied[0].id not in {
        m.id for m in store.list_messages(agent.id, conversation=ticket.id)}
    assert store.clear_context(agent.id, ticket.id) == 2
    assert [m.in_context for m in store.list_messages(agent.id, conversation=forked.id)] == [True, True]

    touched = store.update_conversation(ticket.id, touched=True)
    assert touched.last_message_at is not None and touched.summary == "printer"
    assert [c.id for c in store.list_conversations(agent.id, order_by="last_message_at")][0] == ticket.id
    assert [c.id for c in store.list_conversations(agent.id, summary_search="print")] == [ticket.id]

    store.delete_conversation(ticket.id)
    with pytest.raises(NotFound):
        store.get_conversation(ticket.id)
    assert store.pending_tool_calls(agent.id) == []  # its waiting call went with it
    assert [m.content for m in store.list_messages(agent.id, conversation=ALL_CONVERSATIONS, order="asc")] == [
        "own thread", "ticket thread", ""]  # the fork's copies
    store.delete_agent(agent.id)
    assert [c.agent_id for c in store.list_conversations()] == [other.id]


def test_folders_files_chunks_and_what_an_agent_has_open(workspace):
    from memos.store.base import FileChunk

    store = workspace.store
    agent = _agent(store)
    docs = store.create_folder("docs", description="the manual", instructions="read it first",
                               metadata={"team": "x"}, embedding_model="local/all-MiniLM-L6-v2")
    assert docs.id.startswith("source-") and store.get_folder("docs") == docs
    with pytest.raises(AlreadyExists):
        store.create_folder("docs", embedding_model="local/all-MiniLM-L6-v2")
    vectors = unit_vectors(2, seed=3)
    guide = store.add_file(docs.id, file_name="guide.md", original_file_name="guide.md", file_type="text/markdown",
                           content="line one\nline two\nline three", chunks=[
                               FileChunk(1, "line one\nline two", vectors[0]), FileChunk(3, "line three", vectors[1])])
    assert guide.chunks == 2 and guide.file_size == len("line one\nline two\nline three")
    with pytest.raises(AlreadyExists):
        store.add_file(docs.id, file_name="guide.md", original_file_name="guide.md", file_type=None, content="x",
                       chunks=[])
    replaced = store.add_file(docs.id, file_name="guide.md", original_file_name="guide.md", file_type=None,
                              content="new", chunks=[FileChunk(1, "new", vectors[0])], replace=True)
    assert [f.id for f in store.list_files(docs.id)] == [replaced.id]
    chunks = store.folder_chunks([docs.id])
    assert [(fid, c.text) for fid, c in chunks] == [(replaced.id, "new")]
    assert abs(float(chunks[0][1].embedding @ vectors[0]) - 1.0) < 1e-5

    assert store.agent_files(agent.id) == []
    store.attach_folder(agent.id, docs.id)
    store.attach_folder(agent.id, docs.id)  # once is enough
    assert [f.id for f in store.agent_folders(agent.id)] == [docs.id]
    assert store.folder_agents(docs.id) == [agent.id]
    (item,) = store.agent_files(agent.id)
    assert not item.is_open and item.folder.name == "docs" and item.file.content == "new"
    store.open_file(agent.id, replaced.id, 2, 5)
    (item,) = store.agent_files(agent.id)
    assert item.is_open and (item.start_line, item.end_line) == (2, 5)
    assert store.close_files(agent.id) == 1 and not store.agent_files(agent.id)[0].is_open

    store.open_file(agent.id, replaced.id, 1, None)
    store.detach_folder(agent.id, docs.id)
    assert store.agent_files(agent.id) == [] and store.folder_agents(docs.id) == []
    store.attach_folder(agent.id, docs.id)
    assert not store.agent_files(agent.id)[0].is_open  # detaching closed it
    renamed = store.update_folder(docs.id, name="manual", instructions="skim it")
    assert renamed.name == "manual" and renamed.description == "the manual" and renamed.metadata == {"team": "x"}
    store.delete_file(replaced.id)
    with pytest.raises(NotFound):
        store.get_file(replaced.id)
    store.delete_folder(docs.id)
    assert store.list_folders() == [] and store.agent_folders(agent.id) == []
    assert store.folder_chunks([docs.id]) == []


def test_groups_count_turns_and_mark_what_was_reviewed(workspace):
    store = workspace.store
    main, helper = _agent(store), _agent(store, "helper")
    group = store.create_group("sleeptime", main.id, [helper.id], description="pair", frequency=3)
    assert group.id.startswith("group-") and group.agent_ids == (helper.id,) and group.turns_counter == -1
    assert [g.id for g in store.list_groups(helper.id)] == [group.id] == [g.id for g in store.list_groups(main.id)]
    assert store.list_groups(_agent(store, "other").id) == []
    # Letta's count: due when the counter comes round to 0 (from -1: the first turn), every `frequency` turns.
    assert [store.count_group_turn(group.id, f"m{i}")[0] for i in range(1, 7)] == [True, False, False] * 2
    assert store.get_group(group.id).last_processed_message_id == "m4"
    assert store.count_group_turn(group.id, "m7") == (True, "m4")
    changed = store.update_group(group.id, frequency=1)
    assert changed.frequency == 1 and changed.turns_counter == 0 and changed.description == "pair"
    assert store.count_group_turn(group.id, "m8") == (True, "m7")
    with pytest.raises(NotFound):
        store.create_group("sleeptime", main.id, ["agent-00000000-0000-4000-8000-000000000000"])
    store.delete_group(group.id)
    with pytest.raises(NotFound):
        store.get_group(group.id)


def test_a_steps_feedback_messages_and_deleting_a_finished_run(workspace):
    from memos.errors import AgentBusy

    store = workspace.store
    agent = _agent(store)
    run = store.start_run(agent.id)
    call = ToolCallRecord("toolcall-2", agent.id, "call_2", "conversation_search", "{}", "[]", "success", 3.0)
    step_id, stored = store.record_step(agent.id, StepRecord(run.id, "openai/m", 10, 5, None, 12.5, "tool_call"),
                                        [NewMessage("assistant", "", tool_calls=[{"id": "call_2"}]),
                                         NewMessage("tool", "[]", tool_call_id="call_2")], [call])
    assert [m.id for m in store.step_messages(step_id)] == [m.id for m in stored]
    assert [m.id for m in store.step_messages(step_id, after=stored[0].id)] == [stored[1].id]
    assert [m.id for m in store.step_messages(step_id, order="desc")] == [stored[1].id, stored[0].id]
    assert store.get_step(step_id).feedback is None
    marked = store.set_step_feedback(step_id, "negative", ["slow"])
    assert (marked.feedback, marked.feedback_tags) == ("negative", ("slow",))
    assert store.set_step_feedback(step_id, None, None).feedback_tags == ("slow",)  # None leaves it as it was
    with pytest.raises(NotFound):
        store.set_step_feedback("step-none", "positive", None)

    with pytest.raises(AgentBusy):
        store.delete_run(run.id)  # still running
    store.finish_run(run.id, "completed", "end_turn")
    store.delete_run(run.id)
    for gone in (lambda: store.get_run(run.id), lambda: store.get_step(step_id), lambda: store.delete_run(run.id)):
        with pytest.raises(NotFound):
            gone()
    assert store.list_tool_calls(agent.id) == []
    assert [m.id for m in store.list_messages(agent.id, order="asc")][-2:] == [m.id for m in stored]  # memory stays


def test_identities_keys_members_and_what_deleting_takes(workspace):
    from memos.store.base import IdentityChange

    store = workspace.store
    ada, bob = _agent(store), _agent(store, "bob")
    block = store.get_agent_block(ada.id, "persona")
    sam = store.create_identity("user-1", "Sam", "user", properties=[{"key": "a", "value": 1, "type": "number"}],
                                agent_ids=[ada.id], block_ids=[block.id])
    with pytest.raises(AlreadyExists):
        store.create_identity("user-1", "Other", "user")
    other_project = store.create_identity("user-1", "Sam elsewhere", "user", project_id="p2")  # keys are per project
    assert store.find_identity("user-1", None) == sam and store.find_identity("user-1", "p2") == other_project
    with pytest.raises(NotFound):  # an unknown member: nothing is written
        store.create_identity("user-2", "Kim", "user", agent_ids=[ada.id, "agent-none"])
    assert store.find_identity("user-2", None) is None

    added = store.update_identity(sam.id, IdentityChange(agent_ids=[bob.id], properties=[
        {"key": "b", "value": "x", "type": "string"}]))
    assert added.agent_ids == (ada.id, bob.id) and [p["key"] for p in added.properties] == ["a", "b"]
    replaced = store.update_identity(sam.id, IdentityChange(agent_ids=[bob.id], properties=[], replace=True))
    assert replaced.agent_ids == (bob.id,) and replaced.properties == ()
    store.update_identity(other_project.id, IdentityChange(identifier_key="user-3"))  # free in its project
    store.create_identity("user-3", "Kim", "user")
    with pytest.raises(AlreadyExists):
        store.update_identity(sam.id, IdentityChange(identifier_key="user-3"))
    store.link_identity(sam.id, "agent", ada.id, True)
    store.link_identity(sam.id, "agent", ada.id, True)  # twice: once
    assert store.get_identity(sam.id).agent_ids == (bob.id, ada.id)

    store.delete_agent(bob.id)
    assert store.get_identity(sam.id).agent_ids == (ada.id,)
    store.delete_agent(ada.id)  # and its own blocks with it
    assert store.get_identity(sam.id).block_ids == () and store.get_identity(sam.id).agent_ids == ()
    store.delete_identity(sam.id)
    assert [i.name for i in store.list_identities()] == ["Sam elsewhere", "Kim"]
    with pytest.raises(NotFound):
        store.get_identity(sam.id)


def test_a_due_time_is_claimed_once_and_the_schedule_moves_on(workspace):
    from datetime import UTC, datetime, timedelta

    store = workspace.store
    ada = _agent(store)
    now = datetime.now(UTC).replace(microsecond=0)
    daily = store.create_schedule(ada.id, [{"role": "user", "content": "plan my day"}], {"max_steps": 3},
                                  cron_expression="0 8 * * *", time_zone="Europe/Lisbon", scheduled_at=None,
                                  next_run_at=now - timedelta(minutes=1))
    later = store.create_schedule(ada.id, [{"role": "user", "content": "tea"}], {}, cron_expression=None,
                                  time_zone="UTC", scheduled_at=now + timedelta(hours=1),
                                  next_run_at=now + timedelta(hours=1))
    assert store.get_schedule(daily.id).options == {"max_steps": 3}
    assert [s.id for s in store.list_schedules(ada.id)] == [daily.id, later.id]
    assert [s.id for s in store.due_schedules(now)] == [daily.id]
    due = store.due_schedules(now)[0].next_run_at
    assert due == now - timedelta(minutes=1)
    tomorrow = now + timedelta(days=1)
    assert store.claim_schedule(daily.id, due, tomorrow, "one") is True
    assert store.claim_schedule(daily.id, due, tomorrow, "two") is False  # taken: the second caller gets nothing
    assert store.due_schedules(now) == [] and store.get_schedule(daily.id).next_run_at == tomorrow
    assert [(r.status, r.claimed_by) for r in store.scheduled_runs(daily.id)] == [("claimed", "one")]
    store.finish_scheduled_run(daily.id, due, run_id="run-1", status="completed")
    assert [(r.status, r.run_id) for r in store.scheduled_runs()] == [("completed", "run-1")]

    assert store.claim_schedule(later.id, later.next_run_at, None, "one") is True  # a one-off is spent
    assert store.get_schedule(later.id).next_run_at is None
    assert [s.id for s in store.due_schedules(tomorrow)] == [daily.id]
    store.delete_schedule(later.id)
    with pytest.raises(NotFound):
        store.get_schedule(later.id)
    store.delete_agent(ada.id)
    assert store.list_schedules() == [] and store.scheduled_runs() == []


def test_an_archives_passages_are_stored_searched_and_deleted_with_it(workspace):
    from memos.store.base import PassageQuery

    store = workspace.store
    ada = _agent(store)
    shared = store.create_archive("handbook", "local/all-MiniLM-L6-v2", description="team", metadata={"v": 1})
    vectors = unit_vectors(3, seed=7)
    inserted = store.insert_passages(shared.id, [NewPassage(f"note {i}", vectors[i]) for i in range(3)])
    assert {p.agent_id for p in inserted} == {shared.id}
    hits = store.search_passages(shared.id, PassageQuery(mode="vector", embedding=vectors[1], top_k=1))
    assert [h.passage.text for h in hits] == ["note 1"]
    assert store.search_passages(ada.id, PassageQuery(mode="vector", embedding=vectors[1], top_k=3)) == []
    store.attach_archive(ada.id, shared.id, True)
    store.attach_archive(ada.id, shared.id, True)  # twice: once
    assert [a.id for a in store.agent_archives(ada.id)] == [shared.id] and store.archive_agents(shared.id) == [ada.id]
    assert store.update_archive(shared.id, name="book").name == "book" and store.get_archive(shared.id).metadata == {"v": 1}
    with pytest.raises(NotFound):
        store.insert_passages("archive-00000000-0000-4000-8000-000000000000", [NewPassage("x", vectors[0])])
    store.delete_archive(shared.id)
    assert store.agent_archives(ada.id) == [] and store.list_archives() == []
    assert store.search_passages(shared.id, PassageQuery(mode="vector", embedding=vectors[1], top_k=3)) == []
    with pytest.raises(NotFound):
        store.attach_archive(ada.id, shared.id, True)


def test_messages_in_context_are_counted_per_conversation(workspace):
    store = workspace.store
    ada = _agent(store)
    side = store.create_conversation(ada.id, name="side")
    own = store.append_messages(ada.id, [NewMessage("user", f"m{i}") for i in range(3)])
    store.append_messages(ada.id, [NewMessage("user", "elsewhere", conversation_id=side.id)])
    assert store.count_in_context(ada.id) == 3 and store.count_in_context(ada.id, side.id) == 1
    store.set_in_context(ada.id, [own[0].id], False)
    assert store.count_in_context(ada.id) == 2
    assert store.count_in_context(ada.id, side.id) == len(store.list_messages(ada.id, in_context=True,
                                                                                  conversation=side.id))


def test_the_kept_system_message_is_per_conversation_replaced_and_goes_with_its_owner(workspace):
    store = workspace.store
    ada, bob = _agent(store), _agent(store, "bob")
    side = store.create_conversation(ada.id, name="side")
    assert store.kept_system_message(ada.id, None) is None and store.kept_system_message(ada.id, side.id) is None
    store.keep_system_message(ada.id, None, "own v1")
    store.keep_system_message(ada.id, side.id, "side v1")
    store.keep_system_message(bob.id, None, "bob v1")
    store.keep_system_message(ada.id, None, "own v2")  # a later step's prompt replaces it
    store.keep_system_message(ada.id, side.id, "side v1")  # the same again: still one row
    assert (store.kept_system_message(ada.id, None), store.kept_system_message(ada.id, side.id)) == ("own v2", "side v1")
    store.delete_conversation(side.id)
    assert store.kept_system_message(ada.id, side.id) is None and store.kept_system_message(ada.id, None) == "own v2"
    store.delete_agent(ada.id)
    assert store.kept_system_message(ada.id, None) is None and store.kept_system_message(bob.id, None) == "bob v1"
