"""Letta's multi-agent tools: an agent asks another (by id or name, or every agent with some
tags) and reads its reply; through letta-client against `memos serve`, and from the CLI."""

from __future__ import annotations

import ast
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


def test_an_agent_asks_another_and_agents_with_tags(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    ask = next(iter(client.tools.list(name="send_message_to_agent_and_wait_for_reply")))
    by_tags = next(iter(client.tools.list(name="send_message_to_agents_matching_tags")))
    assert ask.tool_type == "letta_multi_agent_core"
    manager = client.agents.create(name="manager", model="openai/fake-model", tool_ids=[ask.id])
    worker = client.agents.create(name="worker one", model="openai/fake-model", tags=["worker"])
    client.agents.create(name="worker two", model="openai/fake-model", tags=["worker", "senior"])
    assert "send_message_to_agent_and_wait_for_reply" in {t.name for t in client.agents.tools.list(manager.id)}
    assert "send_message_to_agent_and_wait_for_reply" not in {t.name for t in client.agents.tools.list(worker.id)}

    fake_llm.script(call("send_message_to_agent_and_wait_for_reply", message="What is 6 x 7?",
                         other_agent_id=worker.id),
                    say("42"),  # the worker's turn
                    say("The worker says 42."))
    reply = client.agents.messages.create(manager.id, messages=[{"role": "user", "content": "Ask the worker."}])
    (returned,) = [m.tool_return for m in reply.messages if m.message_type == "tool_return_message"]
    assert ast.literal_eval(returned) == {"agent_id": worker.id, "response": ["42"]}
    worker_prompt = fake_llm.requests[1]["messages"]
    assert f"[Incoming message from agent with ID '{manager.id}'" in worker_prompt[-1]["content"]
    assert worker_prompt[-1]["role"] == "system" and "What is 6 x 7?" in worker_prompt[-1]["content"]
    # The worker's own log has the message and its answer; the manager's has neither.
    worker_log = client.agents.messages.list(worker.id, order="asc")
    assert any(m.message_type == "assistant_message" and m.content == "42" for m in worker_log)

    client.agents.tools.attach(by_tags.id, agent_id=manager.id)
    fake_llm.script(call("send_message_to_agents_matching_tags", message="Status?", match_all=["worker"],
                         match_some=["senior"]),
                    say("All good."), say("Only the senior answered."))
    reply = client.agents.messages.create(manager.id, messages=[{"role": "user", "content": "Ask the seniors."}])
    (returned,) = [m.tool_return for m in reply.messages if m.message_type == "tool_return_message"]
    answers = ast.literal_eval(returned)
    assert [a["response"] for a in answers] == [["All good."]] and answers[0]["agent_id"] != worker.id

    exported = client.agents.export_file(manager.id)
    data = exported.encode() if isinstance(exported, str) else exported
    # A file does not hand its agent tools that reach this home's other agents unless asked.
    guarded = client.agents.import_file(file=("manager.af", data), append_copy_suffix=True)
    multi = {"send_message_to_agent_and_wait_for_reply", "send_message_to_agents_matching_tags"}
    assert not multi & {t.name for t in client.agents.tools.list(guarded.agent_ids[0])}
    imported = client.agents.import_file(file=("manager.af", data), append_copy_suffix=True,
                                         extra_body={"allow_local_tools": "true"})
    copy_tools = {t.name for t in client.agents.tools.list(imported.agent_ids[0])}
    assert multi <= copy_tools

    client.agents.tools.detach(ask.id, agent_id=manager.id)
    assert "send_message_to_agent_and_wait_for_reply" not in {t.name for t in client.agents.tools.list(manager.id)}


def test_a_chain_that_loops_back_ends_with_an_error_the_agent_reads(memos, fake_llm):  # type: ignore[no-untyped-def]
    for name in ("ada", "bob"):
        assert memos("agents", "create", name, "--model", "openai/fake-model").code == 0
        attached = memos("tools", "attach", "send_message_to_agent_and_wait_for_reply", "--agent", name)
        assert attached.code == 0, attached.err
    listed = {r["name"]: r for r in memos("tools", "list", "--agent", "ada", "--json").json()}
    assert listed["send_message_to_agent_and_wait_for_reply"]["attached"] is True
    assert listed["send_message_to_agents_matching_tags"]["attached"] is False
    fake_llm.script(call("send_message_to_agent_and_wait_for_reply", message="ping", other_agent_id="bob"),
                    call("send_message_to_agent_and_wait_for_reply", message="pong", other_agent_id="ada"),
                    say("ada was busy"),  # bob's turn goes on after the error
                    say("bob answered"))
    sent = memos("send", "--agent", "ada", "ask bob")
    assert sent.code == 0, sent.err
    assert "bob answered" in sent.out
    bob_saw = fake_llm.requests[2]["messages"][-1]["content"]
    assert "agent 'ada' is waiting for your reply" in bob_saw
