"""Client-side tools (Letta's `client_tools`): tools a request brings, which the client runs. When
the model calls one the turn pauses for approval; the client answers with the tool's return and
the turn goes on. The flow of Letta 0.16.8's integration_test_client_side_tools.py, through
letta-client against `memos serve`, with the scripted LLM."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import letta_client
import pytest

from tests.conftest import call, say
from tests.e2e.test_serve import running_server

SECRET = "CLIENT_SIDE_SECRET_12345"
SCHEMA = {"name": "get_secret_code", "description": "Returns a secret code for the given input text.",
          "parameters": {"type": "object", "properties": {"input_text": {"type": "string",
                                                                        "description": "The input text"}},
                         "required": ["input_text"]}}
SERVER_SIDE = '''def get_secret_code(input_text: str) -> str:
    """The server's own secret code.

    Args:
        input_text: The input text.
    """
    return "SERVER_SIDE_CODE"
'''


@pytest.fixture
def client(fake_llm) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with running_server() as url:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)


def _agent(client: Any) -> Any:
    return client.agents.create(name="ada", model="openai/fake-model",
                                memory_blocks=[{"label": "human", "value": "Name: Sam"}])


def _tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_a_client_tool_pauses_the_turn_and_its_return_continues_it(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    fake_llm.script(call("get_secret_code", input_text="hello world"))
    first = client.agents.messages.create(agent_id=agent.id, client_tools=[SCHEMA], messages=[
        {"role": "user", "content": "Please call the get_secret_code tool with input 'hello world'."}])
    assert first.stop_reason.stop_reason == "requires_approval"
    request = first.messages[-1]
    assert request.message_type == "approval_request_message" and request.tool_call.name == "get_secret_code"
    offered = {t["function"]["name"] for t in fake_llm.requests[-1]["tools"]}
    assert "get_secret_code" in offered

    fake_llm.script(say(f"The code is {SECRET}."))
    second = client.agents.messages.create(agent_id=agent.id, client_tools=[SCHEMA], messages=[
        {"type": "approval", "approvals": [{"type": "tool", "tool_call_id": request.tool_call.tool_call_id,
                                            "tool_return": SECRET, "status": "success"}]}])
    assert second.messages[0].message_type == "tool_return_message"
    assert second.messages[0].status == "success" and second.messages[0].tool_return == SECRET
    assert second.stop_reason.stop_reason == "end_turn"
    assert any(m.message_type == "assistant_message" and SECRET in m.content for m in second.messages)
    assert _tool_messages(fake_llm.requests[-1]) == [SECRET]  # the model read what the client returned

    fake_llm.script(say(f"It was {SECRET}."))
    third = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Which code?"}])
    assert third.stop_reason.stop_reason == "end_turn"
    assert SECRET in _tool_messages(fake_llm.requests[-1])  # still in the history
    listed = client.agents.messages.list(agent_id=agent.id, limit=100).items
    assert any(m.message_type == "tool_return_message" and m.tool_return == SECRET for m in listed)


def test_a_client_tool_overrides_the_agents_tool_of_that_name(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    tool = client.tools.create(source_code=SERVER_SIDE)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    fake_llm.script(call("get_secret_code", input_text="x"))
    paused = client.agents.messages.create(agent_id=agent.id, client_tools=[SCHEMA], messages=[
        {"role": "user", "content": "code?"}])
    assert paused.stop_reason.stop_reason == "requires_approval"  # the server's code did not run
    assert not any(m.message_type == "tool_return_message" for m in paused.messages)
    offered = [t["function"] for t in fake_llm.requests[-1]["tools"] if t["function"]["name"] == "get_secret_code"]
    assert [f["description"] for f in offered] == [SCHEMA["description"]]  # one tool of the name: the client's

    call_id = paused.messages[-1].tool_call.tool_call_id
    with pytest.raises(letta_client.APIStatusError) as wrong:
        client.agents.messages.create(agent_id=agent.id, messages=[
            {"type": "approval", "approvals": [{"type": "tool", "tool_call_id": "call-nope", "tool_return": "x",
                                                "status": "success"}]}])
    assert "Invalid tool call IDs" in str(wrong.value.body)
    fake_llm.script(say("Failed, sorry."))
    failed = client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approvals": [{"type": "tool", "tool_call_id": call_id, "tool_return": "no network",
                                            "status": "error"}]}])
    assert failed.messages[0].status == "error" and failed.messages[0].tool_return == "no network"
    fake_llm.script(say("As I said: it failed."))
    again = client.agents.messages.create(agent_id=agent.id, messages=[  # sent again: Letta's idempotent retry
        {"type": "approval", "approvals": [{"type": "tool", "tool_call_id": call_id, "tool_return": "x",
                                            "status": "success"}]}])
    assert again.stop_reason.stop_reason == "end_turn"
    assert not any(m.message_type == "tool_return_message" for m in again.messages)  # not settled twice
    with pytest.raises(letta_client.APIStatusError) as nothing:
        client.agents.messages.create(agent_id=agent.id, messages=[
            {"type": "approval", "approvals": [{"type": "tool", "tool_call_id": "call-never-made", "tool_return": "x",
                                                "status": "success"}]}])
    assert "No tool call is currently awaiting approval" in str(nothing.value.body)


def test_client_tools_stream_and_are_checked(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    fake_llm.script(call("get_secret_code", input_text="streamed"))
    chunks = list(client.agents.messages.stream(agent_id=agent.id, client_tools=[SCHEMA], messages=[
        {"role": "user", "content": "code, streamed"}]))
    kinds = [c.message_type for c in chunks]
    assert "approval_request_message" in kinds
    assert [c.stop_reason for c in chunks if c.message_type == "stop_reason"] == ["requires_approval"]
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.agents.messages.create(agent_id=agent.id, client_tools=[{"name": "not a name", "parameters": {}}],
                                      messages=[{"role": "user", "content": "x"}])
