"""Letta's sleep-time agents through letta-client against `memos serve`: a second agent,
sharing the main agent's memory, reviews the conversation every few turns in the background."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import letta_client
import pytest

from tests.conftest import call, say
from tests.e2e.test_serve import running_server


@pytest.fixture
def client(fake_llm) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with running_server() as url:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)


def _wait_for_run(client: Any, run_id: str) -> Any:
    deadline = time.monotonic() + 60
    while (run := client.runs.retrieve(run_id)).status == "running":
        assert time.monotonic() < deadline, "the sleep-time run did not finish"
        time.sleep(0.05)
    return run


def test_a_sleeptime_agent_keeps_the_main_agents_memory(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    main = client.agents.create(name="ada", model="openai/fake-model", enable_sleeptime=True, memory_blocks=[
        {"label": "human", "value": "Name: Sam"}, {"label": "persona", "value": "I am Ada."}])
    assert main.enable_sleeptime is True and main.multi_agent_group is not None
    tools = {t.name for t in main.tools}
    assert {"send_message", "conversation_search", "archival_memory_search"} <= tools
    assert not tools & {"core_memory_append", "core_memory_replace", "archival_memory_insert", "memory_rethink"}
    group_id = main.multi_agent_group.id
    group = client.get(f"/v1/groups/{group_id}", cast_to=object)
    assert group["manager_type"] == "sleeptime" and group["sleeptime_agent_frequency"] == 5
    (helper_id,) = group["agent_ids"]
    changed = client.patch(f"/v1/groups/{group_id}", cast_to=object, body={
        "manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 2}})
    assert changed["sleeptime_agent_frequency"] == 2

    human = client.agents.blocks.retrieve("human", agent_id=main.id)
    assert {a.id for a in client.blocks.agents.list(human.id)} == {main.id, helper_id}
    helper = client.agents.retrieve(helper_id, include=["agent.tools"])
    assert helper.agent_type == "sleeptime_agent" and helper.name == "ada-sleeptime"
    assert {"memory_rethink", "memory_finish_edits", "memory_replace", "memory_insert"} <= {t.name for t in helper.tools}
    assert "send_message" not in {t.name for t in helper.tools}
    assert any(r.type == "exit_loop" for r in helper.tool_rules)

    fake_llm.script(say("Hello Sam."), call("memory_finish_edits"))
    first = client.agents.messages.create(main.id, messages=[{"role": "user", "content": "Hi!"}])
    [first_review] = first.usage.run_ids or []  # the first turn is reviewed (Letta's count starts at -1)
    assert first_review not in {m.run_id for m in first.messages}  # (the turn's own run names its messages)
    assert _wait_for_run(client, first_review).status == "completed"
    fake_llm.script(say("Tea, noted."))
    second = client.agents.messages.create(main.id, messages=[{"role": "user", "content": "I drink oolong tea."}])
    assert second.usage.run_ids is None  # 1 turn of 2: no review started
    fake_llm.script(say("Green, mostly."), call("memory_insert", label="human", new_string="Drinks oolong tea."),
                    call("memory_finish_edits"))
    third = client.agents.messages.create(main.id, messages=[{"role": "user", "content": "Green or black?"}])
    [review_run] = third.usage.run_ids or []  # 2 turns of 2: the sleep-time agent's run, in the background
    assert _wait_for_run(client, review_run).status == "completed"
    assert client.runs.retrieve(review_run).agent_id == helper_id
    assert "Drinks oolong tea." in client.agents.blocks.retrieve("human", agent_id=main.id).value
    review = [r for r in fake_llm.requests if "You are a sleeptime agent" in str(r["messages"][-1]["content"])]
    said = review[-1]["messages"][-1]["content"]
    assert "user: I drink oolong tea." in said and "assistant: Tea, noted." in said and "user: Green or black?" in said
    assert "user: Hi!" not in said  # only what was said since the last review
    assert {r.id for r in client.runs.list(agent_id=helper_id)} == {first_review, review_run}

    notes = client.blocks.create(label="project", value="memos")
    client.agents.blocks.attach(notes.id, agent_id=main.id)
    assert "project" in {b.label for b in client.agents.blocks.list(helper_id)}

    assert [g["id"] for g in client.get(f"/v1/agents/{main.id}/groups", cast_to=object)] == [group_id]
    client.agents.delete(main.id)
    with pytest.raises(letta_client.NotFoundError):
        client.agents.retrieve(helper_id)
    with pytest.raises(letta_client.NotFoundError):
        client.get(f"/v1/groups/{group_id}", cast_to=object)


def test_groups_memos_does_not_run_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    one = client.agents.create(name="one", model="openai/fake-model")
    with pytest.raises(letta_client.UnprocessableEntityError) as refused:
        client.post("/v1/groups/", cast_to=object, body={"agent_ids": [one.id],
                                                         "manager_config": {"manager_type": "round_robin"}})
    assert "sleep-time groups only" in refused.value.body["detail"]
    updated = client.agents.update(one.id, enable_sleeptime=True)
    assert updated.enable_sleeptime is True
    off = client.agents.update(one.id, enable_sleeptime=False)
    assert off.enable_sleeptime is False and off.multi_agent_group is None
    assert [a.name for a in client.agents.list()] == ["one"]  # its sleep-time agent went with it


def test_an_agent_with_its_own_memory_persona_shares_it_with_its_sleeptime_agent(client) -> None:  # type: ignore[no-untyped-def]
    """Letta's sleep-time tests give the agent a memory_persona block of their own: enabling
    sleep-time must share it with the helper (a 409 for the duplicate label before)."""
    persona = "Keep only facts about the user's travel plans."
    main = client.agents.create(name="ada", model="openai/fake-model", enable_sleeptime=True, memory_blocks=[
        {"label": "human", "value": "Name: Sam"}, {"label": "memory_persona", "value": persona}])
    (helper_id,) = client.get(f"/v1/groups/{main.multi_agent_group.id}", cast_to=object)["agent_ids"]
    helper_blocks = [b for b in client.agents.blocks.list(helper_id) if b.label == "memory_persona"]
    assert [b.value for b in helper_blocks] == [persona]
    assert helper_blocks[0].id == client.agents.blocks.retrieve("memory_persona", agent_id=main.id).id
