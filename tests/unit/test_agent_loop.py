"""The agent loop in-process: AgentRunner against the scripted OpenAI-compatible server through
the real litellm client, with a real store. Fast enough to cover every way a turn ends, and the
pure helpers it is built from (rules, eviction, well-formed history, argument checks)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from memos.core.context import eviction_split, well_formed
from memos.core.rules import RuleState, normalise
from memos.errors import InvalidInput, ProviderError
from memos.store.base import Message, NewMessage
from memos.tools.registry import check_arguments
from tests.conftest import call, run_statuses, say


@pytest.fixture
def runner(workspace, fake_llm):  # type: ignore[no-untyped-def]
    from memos.core.agent import AgentRunner
    from memos.core.agents import create_agent

    agent = create_agent(workspace, "loop", model="openai/fake-model")
    return AgentRunner(workspace, agent, max_steps=5)


def runs(runner: Any) -> list[tuple[str, str | None]]:
    return run_statuses(runner.ws.store, runner.agent.id)


def kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events
            if e.type not in ("usage", "assistant_delta", "tool_call_delta", "reasoning_delta", "step_started")]


def test_a_reply_through_send_message_ends_the_turn(runner, fake_llm):
    fake_llm.script(say("hello"))
    events = list(runner.send("hi"))
    assert kinds(events) == ["run_started", "tool_call", "assistant", "tool_return", "stop_reason"]
    assert events[-1].reason == "end_turn" and runs(runner) == [("completed", "end_turn")]
    roles = [m.role for m in runner.ws.store.list_messages(runner.agent.id, order="asc")]
    assert roles == ["user", "assistant", "tool"]


def test_plain_content_ends_the_turn_and_other_tools_continue_it(runner, fake_llm):
    fake_llm.script(call("conversation_search", query="x"), {"content": "nothing found"})
    events = list(runner.send("look"))
    assert events[-1].reason == "end_turn" and events[-1].steps == 2
    assert [e.text for e in events if e.type == "assistant"] == ["nothing found"]


def test_max_steps_stops_a_loop_and_closes_the_run(runner, fake_llm):
    fake_llm.script(*[call("conversation_search", query="x")] * 5)
    events = list(runner.send("loop forever"))
    assert events[-1].reason == "max_steps" and runs(runner) == [("completed", "max_steps")]


def test_a_provider_error_fails_the_run_and_keeps_the_message(runner, fake_llm):
    fake_llm.script({"status": 401, "message": "bad key"})
    seen: list[Any] = []
    with pytest.raises(ProviderError):
        for event in runner.send("hi"):
            seen.append(event)
    assert kinds(seen)[-2:] == ["error", "stop_reason"]
    assert runs(runner) == [("failed", "error")]
    assert [m.content for m in runner.ws.store.list_messages(runner.agent.id)] == ["hi"]


def test_a_consumer_that_walks_away_leaves_no_run_open(runner, fake_llm):
    fake_llm.script(call("conversation_search", query="x"), say("late"))
    events = runner.send("hi")
    next(e for e in events if e.type == "tool_return")
    events.close()  # a client that disconnected
    assert runs(runner) == [("cancelled", "cancelled")]
    lock = runner.ws.store.turn_lock(runner.agent.id)
    assert lock.try_acquire()  # and the agent is free again
    lock.release()


def test_cancel_stops_at_the_next_step(runner, fake_llm):
    cancel = threading.Event()
    fake_llm.script(call("conversation_search", query="x"), say("never"))
    events = runner.send("hi", cancel)
    for event in events:
        if event.type == "tool_call":
            cancel.set()
    assert runs(runner) == [("cancelled", "cancelled")]
    assert fake_llm.remaining == 1


def test_rules_offer_tools_and_end_the_loop(runner, fake_llm, workspace):
    from memos.core.agents import update_agent

    runner.agent = update_agent(workspace, runner.agent, tool_rules=[
        {"type": "run_first", "tool_name": "conversation_search"},
        {"type": "exit_loop", "tool_name": "conversation_search"}])
    fake_llm.script(call("conversation_search", query="x"))
    events = list(runner.send("go"))
    assert [t["function"]["name"] for t in fake_llm.requests[0]["tools"]] == ["conversation_search"]
    assert events[-1].reason == "end_turn" and events[-1].steps == 1


def test_approval_waits_then_runs_in_a_run_of_its_own(runner, fake_llm, workspace):
    from memos.core.agents import update_agent

    runner.agent = update_agent(workspace, runner.agent, tool_rules=[
        {"type": "requires_approval", "tool_name": "core_memory_append"}])
    fake_llm.script(call("core_memory_append", label="human", content="likes tea"), say("done"))
    events = list(runner.send("remember tea"))
    assert events[-1].reason == "requires_approval"
    with pytest.raises(InvalidInput, match="waiting for approval"):
        list(runner.send("another"))
    approved = list(runner.approve())
    assert approved[-1].reason == "end_turn"
    assert "likes tea" in workspace.store.get_agent_block(runner.agent.id, "human").value
    assert runs(runner) == [("completed", "requires_approval"), ("completed", "end_turn")]
    assert fake_llm.rejected == []


def test_calls_run_at_once_when_the_call_that_would_wait_breaks_a_rule(runner, fake_llm, workspace):
    """A step's other calls wait only for a call that really waits: one that needs approval but is
    refused by a rule (here: another tool must run first) leaves nothing to decide."""
    from memos.core.agents import update_agent

    runner.agent = update_agent(workspace, runner.agent, tool_rules=[
        {"type": "run_first", "tool_name": "core_memory_append"},
        {"type": "requires_approval", "tool_name": "conversation_search"}])
    fake_llm.script({"tool_calls": [{"name": "conversation_search", "arguments": {"query": "tea"}},
                                    {"name": "core_memory_append", "arguments": {"label": "human",
                                                                                 "content": "likes tea"}}]},
                    say("done"))
    events = list(runner.send("go"))
    assert events[-1].reason == "end_turn"
    assert "likes tea" in workspace.store.get_agent_block(runner.agent.id, "human").value
    assert workspace.store.pending_tool_calls(runner.agent.id) == []
    assert workspace.store.unsettled_tool_calls(runner.agent.id) == []  # none held either


def test_a_conversation_has_its_own_context_approvals_model_and_recovery(runner, fake_llm, workspace):
    from memos.core.agent import AgentRunner
    from memos.core.agents import update_agent

    store = workspace.store
    runner.agent = update_agent(workspace, runner.agent, tool_rules=[
        {"type": "requires_approval", "tool_name": "core_memory_append"}])
    side = store.create_conversation(runner.agent.id, name="side", model="openai/fake-side")
    threaded = AgentRunner(workspace, runner.agent, max_steps=5, conversation=side)
    fake_llm.script(call("core_memory_append", label="human", content="likes tea"), say("own thread answers"))
    assert list(threaded.send("remember tea"))[-1].reason == "requires_approval"
    # The agent's own conversation is not held up by the side thread's waiting call.
    assert list(runner.send("hello"))[-1].reason == "end_turn"
    assert [m["content"] for m in fake_llm.requests[1]["messages"] if m["role"] == "user"] == ["hello"]
    assert fake_llm.requests[0]["model"] == "fake-side" and fake_llm.requests[1]["model"] == "fake-model"
    with pytest.raises(InvalidInput, match="No tool call is currently awaiting approval"):
        list(runner.approve())
    with pytest.raises(InvalidInput, match="memos approve -c side"):
        list(threaded.send("again"))

    # A turn killed in the side thread: its run left running and a call with no answer. A turn in
    # another conversation leaves it alone (it could be live: conversations run at once); the next
    # turn in that thread closes the run and answers the call there.
    store.delete_conversation(side.id)
    side = store.create_conversation(runner.agent.id, name="side2")
    killed = store.start_run(runner.agent.id, conversation_id=side.id)
    store.append_messages(runner.agent.id, [
        NewMessage("user", "do it", run_id=killed.id, conversation_id=side.id),
        NewMessage("assistant", "", tool_calls=[{"id": "call_k", "name": "conversation_search", "arguments": "{}"}],
                   run_id=killed.id, conversation_id=side.id)])
    fake_llm.script(say("elsewhere"), say("back"))
    assert not any(e.type == "warning" for e in runner.send("meanwhile"))
    assert store.get_run(killed.id).status == "running"
    events = list(AgentRunner(workspace, runner.agent, max_steps=5, conversation=side).send("are you there"))
    assert any(e.type == "warning" and "interrupted" in e.message for e in events)
    assert store.get_run(killed.id).status == "interrupted"
    answered = store.list_messages(runner.agent.id, conversation=side.id, order="asc")
    assert [m.role for m in answered if m.tool_call_id == "call_k"] == ["tool"]
    assert all(m.tool_call_id != "call_k" for m in store.list_messages(runner.agent.id))


def test_deny_tells_the_agent_why(runner, fake_llm, workspace):
    from memos.core.agents import update_agent

    runner.agent = update_agent(workspace, runner.agent, tool_rules=[
        {"type": "requires_approval", "tool_name": "memory_rethink"}])
    fake_llm.script(call("memory_rethink", label="human", new_memory="x"), say("ok, I will not"))
    list(runner.send("rewrite"))
    events = list(runner.deny("keep it"))
    assert [e.result for e in events if e.type == "tool_return"][0].endswith("Reason: keep it")
    tool_messages = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert "denied" in tool_messages[-1]["content"]


# -- the pieces -----------------------------------------------------------------------


def message(role: str, content: str = "", tool_calls: list[str] | None = None, answers: str | None = None) -> Message:
    return Message(f"message-{content}-{role}", "agent-x", 0, role, content, None,
                   [{"id": c, "name": "t", "arguments": "{}"} for c in tool_calls] if tool_calls else None,
                   answers, None, None, True, datetime.now(UTC))


def test_well_formed_keeps_answered_calls_only():
    history = [message("tool", "orphan", answers="nobody"),
               message("user", "q"),
               message("assistant", "", ["a", "b"]), message("tool", "ra", answers="a"),
               message("tool", "stray", answers="zzz"),
               message("assistant", "", ["c"]),  # never answered
               message("user", "next"), message("tool", "late", answers="c")]
    out = well_formed(history)
    assert [(m.role, m.content) for m in out] == [("user", "q"), ("assistant", ""), ("tool", "ra"), ("user", "next")]
    assert [c["id"] for c in out[1].tool_calls or []] == ["a"]


def test_eviction_cuts_before_a_user_message_and_within_a_turn_only_when_asked():
    history = [message("user", "1"), message("assistant", "2", ["x"]), message("tool", "3", answers="x"),
               message("user", "4"), message("assistant", "5")]
    assert eviction_split(history, [10] * 5, budget=25) == 3  # keeps the last turn whole
    assert eviction_split(history, [10] * 5, budget=100) == 0  # it fits: nothing to evict
    one_turn = [message("user", "1"), message("assistant", "2", ["x"]), message("tool", "3", answers="x"),
                message("assistant", "4")]
    assert eviction_split(one_turn, [10] * 4, budget=15) == 0
    assert eviction_split(one_turn, [10] * 4, budget=15, within_turn=True) == 3  # never between call and result
    assert eviction_split(history, [1] * 5, budget=100, keep_at_most=2) == 3


def test_rule_state_and_rule_checks():
    rules = [normalise(r, {"a", "b", "c"}) for r in (
        {"type": "run_first", "tool_name": "a"}, {"type": "child", "tool_name": "a", "children": ["b"]},
        {"type": "max_count_per_step", "tool_name": "b", "max_count_limit": 1},
        {"type": "required_before_exit", "tool_name": "c"})]
    state = RuleState(rules)
    assert state.allowed(["a", "b", "c"]) == ["a"]
    state.record("a")
    assert state.allowed(["a", "b", "c"]) == ["b"] and state.violation("c", ["a", "b", "c"])
    state.record("b")
    assert "b" not in state.allowed(["a", "b", "c"]) and state.missing_before_exit() == ["c"]
    with pytest.raises(InvalidInput, match="unknown tool rule type"):
        normalise({"type": "nope", "tool_name": "a"}, {"a"})
    # A rule naming a tool the agent lacks (Letta's API takes those) does nothing: it blocks no tool.
    absent = RuleState([normalise({"type": "run_first", "tool_name": "gone"}, {"a"}, any_tool=True)])
    assert absent.allowed(["a", "b"]) == ["a", "b"]
    with pytest.raises(InvalidInput, match="unknown tool"):
        normalise({"type": "exit_loop", "tool_name": "z"}, {"a"})


def test_a_conditional_rule_lets_the_output_pick_the_next_tool():
    """Letta's conditional rule (outreach_workflow_agent.af): True -> send_email, False -> reject,
    anything else -> the default child; strict mode allows nothing on an unmapped output."""
    tools = ["evaluate", "send_email", "reject", "other"]
    rule = normalise({"type": "conditional", "tool_name": "evaluate", "default_child": "reject",
                      "child_output_mapping": {"True": "send_email", "False": "reject"}}, set(tools))
    state = RuleState([rule])
    state.record("evaluate")
    state.returned("evaluate", "True")
    assert state.allowed(tools) == ["send_email"]
    state.record("evaluate")
    state.returned("evaluate", "false\n")
    assert state.allowed(tools) == ["reject"]
    state.record("evaluate")
    state.returned("evaluate", "maybe")
    assert state.allowed(tools) == ["reject"]
    state.record("send_email")
    state.returned("evaluate", "True")  # not the last call: ignored
    assert state.allowed(tools) == tools
    strict = RuleState([normalise({**rule, "default_child": None, "require_output_mapping": True}, set(tools))])
    strict.record("evaluate")
    strict.returned("evaluate", "maybe")
    assert strict.allowed(tools) == []
    numbers = RuleState([normalise({"type": "conditional", "tool_name": "evaluate",
                                    "child_output_mapping": {"1": "other"}}, set(tools))])
    numbers.record("evaluate")
    numbers.returned("evaluate", "1.0")
    assert numbers.allowed(tools) == ["other"]
    with pytest.raises(InvalidInput, match="unknown tool 'nowhere'"):
        normalise({**rule, "child_output_mapping": {"True": "nowhere"}}, set(tools))
    with pytest.raises(InvalidInput, match="child_output_mapping"):
        normalise({"type": "conditional", "tool_name": "evaluate"}, set(tools))


def test_check_arguments_names_unknown_and_missing():
    schema = {"properties": {"city": {}, "unit": {}}, "required": ["city"]}
    check_arguments("weather", schema, {"city": "Oslo"})
    with pytest.raises(InvalidInput, match="weather takes city, unit; unknown: town; missing: city"):
        check_arguments("weather", schema, {"town": "Oslo"})


def test_new_messages_keep_their_tool_call_ids(workspace, agent):
    stored = workspace.store.append_messages(agent.id, [
        NewMessage("assistant", "", tool_calls=[{"id": "c1", "name": "t", "arguments": "{}"}]),
        NewMessage("tool", "r", tool_call_id="c1")])
    assert well_formed(stored) == stored


def test_the_system_message_stays_the_same_until_memory_or_the_context_changes(runner, fake_llm):
    """Steps send the same system message while nothing it shows changes (a provider's prompt cache
    keeps the whole conversation, and the system message read back is the one the model read);
    a block edit changes it, and messages leaving the context are counted as previous ones."""
    from memos.core import memory

    store, agent = runner.ws.store, runner.agent
    fake_llm.script(call("conversation_search", query="x"), say("one"), say("two"))
    list(runner.send("first"))
    list(runner.send("second"))
    systems = [r["messages"][0]["content"] for r in fake_llm.requests]
    assert len(systems) == 3 and systems[0] == systems[1] == systems[2]
    assert "- 0 previous messages between you and the user" in systems[0]
    assert "- The current system date is:" not in systems[0]  # (as Letta 0.16.8: it would change daily)

    memory.edit_block(store, store.get_agent_block(agent.id, "human").id, value="Name: Kim", actor="user")
    fake_llm.script(say("three"))
    list(runner.send("third"))
    assert fake_llm.requests[-1]["messages"][0]["content"] != systems[0]
    stored = store.list_messages(agent.id, limit=100, order="asc")
    store.set_in_context(agent.id, [m.id for m in stored[:2]], False)  # two leave the context
    fake_llm.script(say("four"))
    list(runner.send("fourth"))
    assert "- 2 previous messages between you and the user" in fake_llm.requests[-1]["messages"][0]["content"]
