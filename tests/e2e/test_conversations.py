"""Conversations through letta-client (strict validation) against a real `memos serve`:
threads of one agent with their own messages and context, its memory blocks shared."""

from __future__ import annotations

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


def _agent(client: Any, name: str = "ada") -> Any:
    return client.agents.create(name=name, model="openai/fake-model", memory_blocks=[
        {"label": "human", "value": "Name: Sam"}, {"label": "persona", "value": "I am Ada."}])


def _prompt_texts(request: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in request["messages"][1:])


def _send(client: Any, conversation_id: str, text: str) -> list[Any]:
    return list(client.conversations.messages.create(conversation_id, messages=[{"role": "user", "content": text}]))


def test_conversations_keep_their_own_messages_and_share_memory(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    first = client.conversations.create(agent_id=agent.id)
    second = client.conversations.create(agent_id=agent.id)
    assert first.id.startswith("conv-") and first.agent_id == agent.id
    fresh = client.conversations.retrieve(first.id)
    assert len(fresh.in_context_message_ids) == 1 and fresh.in_context_message_ids[0].startswith("message-")

    fake_llm.script(call("core_memory_append", label="human", content="Likes apples"), say("Noted: APPLE."),
                    say("Noted: BANANA."))
    streamed = _send(client, first.id, "My favourite fruit is APPLE.")
    assert [m.message_type for m in streamed if m.message_type == "assistant_message"] == ["assistant_message"]
    client.conversations.messages.create(second.id, messages=[{"role": "user", "content": "Mine is BANANA."}],
                                         streaming=False)

    # Each model request saw only its own conversation's messages, and the shared memory.
    third_request = fake_llm.requests[2]
    assert "BANANA" in _prompt_texts(third_request) and "APPLE" not in _prompt_texts(third_request)
    assert "Likes apples" in third_request["messages"][0]["content"]  # the block edit made in the first

    one = list(client.conversations.messages.list(first.id, order="asc"))
    two = list(client.conversations.messages.list(second.id, order="asc"))
    assert one[0].message_type == "system_message" and one[1].message_type == "user_message"
    assert "APPLE" in str([getattr(m, "content", "") for m in one]) and "BANANA" not in str(
        [getattr(m, "content", "") for m in one])
    assert "BANANA" in str([getattr(m, "content", "") for m in two])
    assert one[0].id != two[0].id  # each conversation has its own system message
    retrieved = client.conversations.retrieve(first.id)
    assert retrieved.in_context_message_ids[0] == one[0].id and len(retrieved.in_context_message_ids) >= 3
    assert retrieved.last_message_at is not None
    # The system message names the agent and the conversation, as Letta's does.
    assert f"- AGENT_ID: {agent.id}" in one[0].content and f"- CONVERSATION_ID: {first.id}" in one[0].content
    assert f"- CONVERSATION_ID: {first.id}" in fake_llm.requests[0]["messages"][0]["content"]
    own_head = client.agents.messages.list(agent.id, order="asc", limit=1).items[0]
    assert "- CONVERSATION_ID: default" in own_head.content

    # The agent's own conversation has neither; the agent's whole log has both.
    own = client.agents.messages.list(agent.id, conversation_id="default")
    assert not [m for m in own if m.message_type == "user_message"]
    everything = client.agents.messages.list(agent.id, order="asc")
    assert len([m for m in everything if m.message_type == "user_message"]) == 2
    default_listed = list(client.conversations.messages.list("default", agent_id=agent.id))
    assert [m.message_type for m in default_listed] == ["system_message"]

    # Runs name their conversation.
    runs = client.runs.list(agent_id=agent.id)
    assert {r.conversation_id for r in runs} == {first.id, second.id}

    ordered = client.conversations.list(agent_id=agent.id, order_by="last_message_at", order="desc")
    assert [c.id for c in ordered][:2] == [second.id, first.id]
    assert {c.id for c in client.conversations.list(agent_id=agent.id)} == {first.id, second.id}


def test_the_log_lists_the_system_message_the_model_last_read_until_a_step_or_recompile(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta keeps a conversation's system message until it is recompiled: a block changed through
    the API reaches the next step's prompt, but the log lists what the model read until then."""
    agent = _agent(client)
    talked = client.conversations.create(agent_id=agent.id)
    fake_llm.script(say("Hello."), say("Hi again."))
    _send(client, talked.id, "Hello")
    quiet = client.conversations.create(agent_id=agent.id)

    def head(conversation_id: str) -> str:
        first = list(client.conversations.messages.list(conversation_id, order="asc"))[0]
        assert first.message_type == "system_message"
        return str(first.content)

    assert "Name: Sam" in head(talked.id) and "Name: Sam" in head(quiet.id)
    client.agents.blocks.update("human", agent_id=agent.id, value="Name: Sam. MARKER-1")
    assert "MARKER-1" not in head(talked.id) and "MARKER-1" not in head(quiet.id)
    assert "MARKER-1" not in client.messages.retrieve(
        list(client.conversations.messages.list(quiet.id))[0].id)[0].content  # looked up by id: the same
    # A new conversation starts from memory as it is now.
    fresh = client.conversations.create(agent_id=agent.id)
    assert "MARKER-1" in head(fresh.id)

    # A dry run shows the new prompt and keeps nothing; a recompile keeps it.
    dry = client.post(f"/v1/conversations/{quiet.id}/recompile", cast_to=str, options={"params": {"dry_run": True}})
    assert "MARKER-1" in dry and "MARKER-1" not in head(quiet.id)
    assert "MARKER-1" in client.conversations.recompile(quiet.id) and "MARKER-1" in head(quiet.id)

    # A step compiles memory as it is: the model reads the change, and the log lists what it read.
    _send(client, talked.id, "Again")
    assert "MARKER-1" in fake_llm.requests[-1]["messages"][0]["content"]
    assert head(talked.id) == fake_llm.requests[-1]["messages"][0]["content"]

    # The agent's own conversation: what it would read until its first step, then the same rule.
    own = client.agents.messages.list(agent.id, conversation_id="default", order="asc").items[0]
    assert "MARKER-1" in own.content
    client.agents.recompile(agent.id)
    client.agents.blocks.update("human", agent_id=agent.id, value="Name: Sam. MARKER-2")
    own = client.agents.messages.list(agent.id, conversation_id="default", order="asc").items[0]
    assert "MARKER-1" in own.content and "MARKER-2" not in own.content
    assert "MARKER-2" in client.agents.recompile(agent.id)
    own = client.agents.messages.list(agent.id, conversation_id="default", order="asc").items[0]
    assert "MARKER-2" in own.content


def test_fork_compact_recompile_update_delete(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    source = client.conversations.create(agent_id=agent.id, summary="colours")
    fake_llm.script(say("Red it is."), say("You said red."))
    _send(client, source.id, "My favourite colour is red.")

    forked = client.conversations.fork(source.id)
    assert forked.id != source.id and forked.agent_id == agent.id
    _send(client, forked.id, "What colour did I say?")
    assert "favourite colour is red" in _prompt_texts(fake_llm.requests[-1])
    source_texts = [getattr(m, "content", "") for m in client.conversations.messages.list(source.id)]
    assert "What colour did I say?" not in source_texts  # the fork went its own way

    fake_llm.script(say("one"), say("two"), say("three"), {"content": "Sam likes red and counting."})
    for text in ("count one", "count two", "count three"):
        _send(client, source.id, text)
    compacted = client.conversations.messages.compact(source.id)
    assert compacted.summary == "Sam likes red and counting."
    assert compacted.num_messages_after < compacted.num_messages_before
    after = client.conversations.retrieve(source.id)
    assert len(after.in_context_message_ids) == compacted.num_messages_after  # the system message, the summary, the rest

    prompt = client.conversations.recompile(source.id)
    assert "I am Ada." in prompt and "<memory_blocks>" in prompt
    own = client.post("/v1/conversations/default/recompile", cast_to=str, body={"agent_id": agent.id})
    assert "I am Ada." in own and "CONVERSATION_ID: default" in own  # the agent's own, named in the body

    changed = client.conversations.update(source.id, summary="colours and counting")
    assert changed.summary == "colours and counting"
    assert [c.id for c in client.conversations.list(agent_id=agent.id, summary_search="counting")] == [source.id]

    client.conversations.delete(forked.id)
    with pytest.raises(letta_client.NotFoundError):
        client.conversations.retrieve(forked.id)
    with pytest.raises(letta_client.NotFoundError):
        client.conversations.messages.list(forked.id)
    assert client.agents.retrieve(agent.id).id == agent.id  # the agent and its other threads stay
    assert client.conversations.retrieve(source.id).id == source.id


def test_errors_answer_as_letta_does(client) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    with pytest.raises(letta_client.NotFoundError):
        client.conversations.retrieve("conv-00000000-0000-4000-8000-000000000000")
    with pytest.raises(letta_client.NotFoundError):
        client.conversations.create(agent_id="agent-00000000-0000-4000-8000-000000000000")
    with pytest.raises(letta_client.NotFoundError):
        client.conversations.fork("conv-00000000-0000-4000-8000-000000000000")
    with pytest.raises(letta_client.UnprocessableEntityError) as isolated:
        client.conversations.create(agent_id=agent.id, extra_body={"isolated_block_labels": ["human"]})
    assert "share all of the agent's memory blocks" in isolated.value.body["detail"]
    conversation = client.conversations.create(agent_id=agent.id)
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.conversations.messages.create(conversation.id, messages=[{"role": "user", "content": " "}])
    with pytest.raises(letta_client.ConflictError) as idle:  # Letta's 409: nothing running to cancel
        client.conversations.cancel(conversation.id)
    assert "No active runs" in idle.value.body["detail"]
    with pytest.raises(letta_client.BadRequestError):  # too little to compact (Letta's 400)
        client.conversations.messages.compact(conversation.id)
    with pytest.raises(letta_client.BadRequestError) as nothing:  # "default" names its agent in the body too
        client.conversations.messages.stream("default", extra_body={"agent_id": agent.id})
    assert "No active runs found" in nothing.value.body["detail"]


def test_preview_raw_payload_shows_the_request_without_sending_it(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    conversation = client.conversations.create(agent_id=agent.id)
    fake_llm.script(say("Red."))
    _send(client, conversation.id, "My colour is red.")
    sent = fake_llm.request_count
    before = len(list(client.conversations.messages.list(conversation.id)))
    payload = client.post(f"/v1/conversations/{conversation.id}/messages/preview-raw-payload", cast_to=object,
                          body={"messages": [{"role": "user", "content": "And now?"}]})
    assert fake_llm.request_count == sent  # nothing went to the model
    assert payload["model"] == "openai/fake-model"
    roles = [(m["role"], m.get("content")) for m in payload["messages"]]
    assert roles[0][0] == "system" and f"CONVERSATION_ID: {conversation.id}" in roles[0][1]
    assert ("user", "My colour is red.") in roles and roles[-1] == ("user", "And now?")
    assert "send_message" in {t["function"]["name"] for t in payload["tools"]}
    own = client.post(f"/v1/agents/{agent.id}/messages/preview-raw-payload", cast_to=object,
                      body={"messages": [{"role": "user", "content": "hello"}]})
    assert [m["content"] for m in own["messages"] if m["role"] == "user"] == ["hello"]  # not the conversation's
    assert len(list(client.conversations.messages.list(conversation.id))) == before  # nothing stored


def test_conversations_of_one_agent_run_at_once(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import threading

    agent = _agent(client)
    slow, quick = client.conversations.create(agent_id=agent.id), client.conversations.create(agent_id=agent.id)
    held = threading.Event()
    fake_llm.script({**say("finally"), "gate": held}, say("at once"))
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.update(slow=_send(client, slow.id, "take your time")))
    first.start()
    fake_llm.wait_for_requests(1)  # the slow conversation's turn is with the model
    answered = _send(client, quick.id, "quick one")  # does not wait for the other conversation
    assert "at once" in [m.content for m in answered if m.message_type == "assistant_message"]
    assert first.is_alive()
    held.set()
    first.join(60)
    assert "finally" in [m.content for m in results["slow"] if m.message_type == "assistant_message"]


def test_a_busy_conversation_answers_409_at_once_and_the_agent_route_waits(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """As Letta: a message to a conversation that is in a turn is refused at once (409), in a
    conversation or the agent's own through the conversation routes; memos's agent route waits
    for the turn instead, and is answered after it."""
    import threading
    import time

    agent = _agent(client)
    thread = client.conversations.create(agent_id=agent.id)
    for where in (thread.id, agent.id):  # a conversation, then agent-direct
        held = threading.Event()
        fake_llm.script({**say("first"), "gate": held})
        results: dict[str, Any] = {}
        first = threading.Thread(target=lambda w=where, r=results: r.update(first=_send(client, w, "one")))
        asked = fake_llm.request_count
        first.start()
        fake_llm.wait_for_requests(asked + 1)
        started = time.monotonic()
        with pytest.raises(letta_client.ConflictError) as busy:
            _send(client, where, "two")
        assert "busy" in str(busy.value.body) and time.monotonic() - started < 20  # not after a wait
        held.set()
        first.join(60)
        assert "first" in [m.content for m in results["first"] if m.message_type == "assistant_message"]

    held = threading.Event()
    fake_llm.script({**say("slow"), "gate": held}, say("queued"))
    first = threading.Thread(target=lambda: _send(client, agent.id, "one"))
    asked = fake_llm.request_count
    first.start()
    fake_llm.wait_for_requests(asked + 1)
    releaser = threading.Timer(0.5, held.set)
    releaser.start()
    queued = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "two"}])
    assert "queued" in [m.content for m in queued.messages if m.message_type == "assistant_message"]
    first.join(60)


def test_a_background_message_sent_again_with_its_otid_joins_its_run(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """As Letta: the same message (same otid) sent again in background mode, while its run goes on
    or after it ended, streams that run (same run id, same chunks) instead of sending it twice;
    the conversation's stream route finds the run by otid too."""
    import threading

    import httpx

    agent = _agent(client)
    thread = client.conversations.create(agent_id=agent.id)
    held = threading.Event()
    fake_llm.script({**say("Counting: 1 2 3 4 5."), "gate": held})
    ask = [{"role": "user", "content": "count to five", "otid": "otid-count-5"}]
    first: list[Any] = []
    asked = fake_llm.request_count
    sender = threading.Thread(target=lambda: first.extend(client.conversations.messages.create(
        thread.id, messages=ask, background=True)))
    sender.start()
    fake_llm.wait_for_requests(asked + 1)  # the run is with the model, its message stored
    second: list[Any] = []
    joiner = threading.Thread(target=lambda: second.extend(client.conversations.messages.create(
        thread.id, messages=ask, background=True)))
    joiner.start()
    held.set()
    sender.join(60)
    joiner.join(60)

    def run_of(chunks: list[Any]) -> str | None:
        return next((c.run_id for c in chunks if getattr(c, "run_id", None)), None)

    def said(chunks: list[Any]) -> list[str]:
        return [c.content for c in chunks if getattr(c, "message_type", None) == "assistant_message"]

    assert run_of(first) is not None and run_of(second) == run_of(first)
    assert said(first) == said(second) == ["Counting: 1 2 3 4 5."]
    third = list(client.conversations.messages.create(thread.id, messages=ask, background=True))
    assert run_of(third) == run_of(first) and said(third) == said(first)  # after it ended too
    user_messages = [m for m in client.conversations.messages.list(thread.id).items
                     if m.message_type == "user_message"]
    assert len(user_messages) == 1  # sent once

    base = str(client.base_url).rstrip("/")
    found = httpx.post(f"{base}/v1/conversations/{thread.id}/stream", json={"otid": "otid-count-5"}, timeout=60)
    assert found.status_code == 200 and "Counting: 1 2 3 4 5." in found.text
    unknown = httpx.post(f"{base}/v1/conversations/{thread.id}/stream", json={"otid": "never-sent"}, timeout=60)
    assert unknown.status_code == 404
