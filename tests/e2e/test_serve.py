"""`memos serve` driven by Letta's own SDK (letta-client, strict response validation):
a real server process, the fake LLM through the real litellm path."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import letta_client
import pytest

from tests.conftest import MEMOS_BIN, agent_dir, say, stop_process


@contextmanager
def running_server(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    proc = subprocess.Popen([str(MEMOS_BIN), "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    try:
        line = proc.stderr.readline()
        match = re.search(r"http://([\d.]+):(\d+)", line)
        assert match, f"no address announced: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
        yield f"http://{match.group(1)}:{match.group(2)}"
    finally:
        stop_process(proc)
        assert proc.stdout.read() == "", "the server printed to stdout"


@pytest.fixture
def server(fake_llm) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with running_server() as url:
        yield url


@pytest.fixture
def client(server: str):  # type: ignore[no-untyped-def]
    return letta_client.Letta(base_url=server, _strict_response_validation=True, max_retries=0)


def _new_agent(client: Any, name: str = "ada", **extra: Any) -> Any:
    return client.agents.create(name=name, model="openai/fake-model", memory_blocks=[
        {"label": "human", "value": "Name: Sam", "limit": 200},
        {"label": "persona", "value": "I am Ada, a helpful agent."},
    ], **extra)


def test_sdk_agent_lifecycle_send_stream_blocks_archival_and_paging(client, fake_llm):  # type: ignore[no-untyped-def]
    agent = _new_agent(client)
    assert [b.label for b in agent.blocks] == ["human", "persona"]
    assert agent.llm_config.model == "openai/fake-model"
    assert client.agents.retrieve(agent.id).name == "ada"

    # Send: the agent edits its memory, then answers.
    fake_llm.script({"tool_calls": [{"name": "core_memory_append", "arguments": {"label": "human",
                                                                                  "content": "Likes tea"}}]},
                    say("Noted, you like tea."))
    response = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "I like tea"}])
    kinds = [m.message_type for m in response.messages]
    assert kinds == ["tool_call_message", "tool_return_message", "assistant_message"]
    assert response.messages[0].tool_call.name == "core_memory_append"
    assert response.messages[-1].content == "Noted, you like tea."
    assert response.stop_reason.stop_reason == "end_turn"
    assert response.usage.step_count == 2
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Sam\nLikes tea"

    # Stream: reasoning, a tool call and its return, the answer, the stop reason and usage.
    fake_llm.script({"content": "Let me look that up.", "tool_calls": [
        {"name": "conversation_search", "arguments": {"query": "tea"}}]}, say("You told me you like tea."))
    chunks = list(client.agents.messages.stream(agent_id=agent.id,
                                                messages=[{"role": "user", "content": "What do I like?"}]))
    kinds = [c.message_type for c in chunks]
    assert kinds == ["ping", "reasoning_message", "tool_call_message", "tool_return_message", "assistant_message",
                     "stop_reason", "usage_statistics"]  # a ping first, as Letta's streams begin
    assert "tea" in chunks[3].tool_return and chunks[3].status == "success"
    assert chunks[4].content == "You told me you like tea."
    assert chunks[5].stop_reason == "end_turn"

    # A person edits a block; over its limit is refused with the reason.
    assert client.agents.blocks.update("human", agent_id=agent.id, value="Name: Sam\nLikes coffee").value \
        == "Name: Sam\nLikes coffee"
    with pytest.raises(letta_client.UnprocessableEntityError) as refused:
        client.agents.blocks.update("human", agent_id=agent.id, value="x" * 500)
    assert "limit 200" in refused.value.body["detail"]

    # Archival memory: insert, search by meaning, list, delete.
    inserted = client.agents.passages.create(agent_id=agent.id, text="The product launch is on Friday", tags=["work"])
    client.agents.passages.create(agent_id=agent.id, text="Sam's cat is called Miso")
    found = client.agents.passages.search(agent_id=agent.id, query="when do we launch?", top_k=1)
    assert found.count == 1 and found.results[0].content == "The product launch is on Friday"
    assert found.results[0].tags == ["work"]
    assert [p.text for p in client.agents.passages.list(agent_id=agent.id)] == [
        "The product launch is on Friday", "Sam's cat is called Miso"]
    client.agents.passages.delete(inserted[0].id, agent_id=agent.id)
    assert len(client.agents.passages.list(agent_id=agent.id)) == 1

    # Messages: the default page is the newest ones, listed oldest first, as Letta lists them; in
    # ascending order the SDK pages on through all of them, the same as one big page.
    everything = client.agents.messages.list(agent_id=agent.id, limit=100).items
    paged = list(client.agents.messages.list(agent_id=agent.id, order="asc", limit=2))
    assert [(m.id, m.message_type) for m in paged] == [(m.id, m.message_type) for m in everything]
    assert everything[0].message_type == "system_message" and "<memory_blocks>" in everything[0].content  # first
    assert everything[1].message_type == "user_message" and everything[1].content == "I like tea"
    assert everything[-1].message_type == "assistant_message"

    client.agents.delete(agent.id)
    with pytest.raises(letta_client.NotFoundError):
        client.agents.retrieve(agent.id)
    assert [a.name for a in client.agents.list()] == []


def test_approval_and_denial_over_the_api(client, fake_llm):  # type: ignore[no-untyped-def]
    agent = _new_agent(client, tool_rules=[{"type": "requires_approval", "tool_name": "core_memory_append"}])
    fake_llm.script({"tool_calls": [{"name": "core_memory_append",
                                     "arguments": {"label": "human", "content": "Owns a boat"}}]})
    waiting = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "I own a boat"}])
    assert waiting.stop_reason.stop_reason == "requires_approval"
    assert waiting.messages[-1].message_type == "approval_request_message"
    listed = client.agents.messages.list(agent_id=agent.id, limit=5).items  # the newest five, oldest first
    assert listed[-1].message_type == "approval_request_message"

    fake_llm.script(say("Saved."))
    approved = client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approve": True, "approval_request_id": waiting.messages[-1].id}])
    assert [m.message_type for m in approved.messages][-1] == "assistant_message"
    assert "Owns a boat" in client.agents.blocks.retrieve("human", agent_id=agent.id).value

    fake_llm.script({"tool_calls": [{"name": "core_memory_append", "arguments": {"label": "human", "content": "X"}}]},
                    say("Understood, I won't."))
    asked = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "remember X"}])
    call_id = asked.messages[-1].tool_call.tool_call_id
    with pytest.raises(letta_client.UnprocessableEntityError) as wrong:  # Letta's words, which clients match on
        client.agents.messages.create(agent_id=agent.id, messages=[
            {"type": "approval", "approvals": [{"type": "approval", "approve": False, "tool_call_id": "call-nope"}]}])
    assert wrong.value.body["detail"].startswith("Invalid tool call IDs: call-nope")
    denied = client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approvals": [{"type": "approval", "approve": False, "tool_call_id": call_id,
                                            "reason": "not that"}]}])
    assert denied.messages[0].message_type == "tool_return_message"
    assert "not that" in denied.messages[0].tool_return
    assert "X" not in client.agents.blocks.retrieve("human", agent_id=agent.id).value.split("\n")
    with pytest.raises(letta_client.UnprocessableEntityError) as none:
        client.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approve": True}])
    assert none.value.body["detail"].startswith("No tool call is currently awaiting approval")


def test_cancel_stops_a_stream_and_keeps_the_partial_reply(client, fake_llm):  # type: ignore[no-untyped-def]
    agent = _new_agent(client)
    fake_llm.script({"content": "one two three four five six seven eight nine ten", "chunk_delay": 0.3})
    chunks: list[Any] = []

    def read() -> None:
        chunks.extend(client.agents.messages.stream(agent_id=agent.id,
                                                    messages=[{"role": "user", "content": "count slowly"}]))

    reader = threading.Thread(target=read)
    reader.start()
    deadline = threading.Event()
    while not fake_llm.requests and not deadline.wait(0.05):
        pass
    deadline.wait(0.8)
    assert client.agents.messages.cancel(agent_id=agent.id)["cancelled"] == 1
    reader.join(timeout=30)
    stops = [c.stop_reason for c in chunks if c.message_type == "stop_reason"]
    assert stops == ["cancelled"]
    kept = client.agents.messages.list(agent_id=agent.id, limit=1).items[0]
    assert kept.message_type == "assistant_message" and kept.content.startswith("one")
    assert len(kept.content) < len("one two three four five six seven eight nine ten")


def test_library_tool_created_attached_and_called(client, fake_llm, memos_home: Path):  # type: ignore[no-untyped-def]
    source = '''def shout(text: str) -> str:
    """Say it loudly.

    Args:
        text: What to say.
    """
    return text.upper() + "!"
'''
    tool = client.tools.create(source_code=source)
    assert tool.name == "shout" and tool.json_schema["parameters"]["properties"]["text"]["type"] == "string"
    assert "shout" in [t.name for t in client.tools.list()]
    agent = _new_agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    assert "shout" in [t.name for t in client.agents.tools.list(agent_id=agent.id)]
    repo = agent_dir(memos_home, "ada") / "tools"
    assert (repo / "shout.py").read_text() == source
    log = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%B"], capture_output=True, text=True).stdout
    assert "Memos-Made: true" in log

    fake_llm.script({"tool_calls": [{"name": "shout", "arguments": {"text": "hello"}}]}, say("done"))
    response = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "shout hello"}])
    returned = [m for m in response.messages if m.message_type == "tool_return_message"]
    assert returned[0].tool_return == "HELLO!" and returned[0].status == "success"

    with pytest.raises(letta_client.UnprocessableEntityError) as broken:
        client.tools.create(source_code="def nohints(x):\n    return x\n")
    assert "nohints" in broken.value.body["detail"]


def test_bad_requests_get_clear_json_errors(server: str) -> None:
    with httpx.Client(base_url=server) as http:
        missing = http.get("/v1/agents/agent-nope")
        assert missing.status_code == 404 and missing.json()["detail"] == "no agent named 'agent-nope'" \
            or "agent-nope" in missing.json()["detail"]
        wrong_type = http.post("/v1/agents/", json={"name": "x", "memory_blocks": "not a list"})
        assert wrong_type.status_code == 422
        assert wrong_type.json()["detail"][0]["loc"] == ["body", "memory_blocks"]
        bad_name = http.post("/v1/agents/", json={"name": "a\tname with a tab"})  # spaces are fine, as in Letta
        assert bad_name.status_code == 422 and "not a valid agent name" in bad_name.json()["detail"]
        assert http.get("/docs").status_code == 200
        assert "/v1/agents/{agent_id}/messages/stream" in http.get("/openapi.json").json()["paths"]




def test_cli_and_server_share_the_database(client, memos, fake_llm):  # type: ignore[no-untyped-def]
    agent = _new_agent(client)
    fake_llm.script(say("from the CLI"))
    sent = memos("send", "--agent", "ada", "hello from a pipeline")
    assert sent.code == 0, sent.err
    assert sent.out.strip() == "from the CLI"
    edited = memos("memory", "set", "human", "Name: Sam (set by the CLI)", "--agent", "ada")
    assert edited.code == 0, edited.err
    assert client.agents.blocks.retrieve("human", agent_id=agent.id).value == "Name: Sam (set by the CLI)"
    assert client.agents.messages.list(agent_id=agent.id, limit=1).items[0].content == "from the CLI"
    client.agents.blocks.update("persona", agent_id=agent.id, value="Edited over HTTP")
    shown = memos("memory", "show", "persona", "--agent", "ada", "--json")
    assert shown.code == 0 and shown.json()["value"] == "Edited over HTTP"


def test_a_tool_created_to_require_approval_never_runs_without_it(client, fake_llm, server):  # type: ignore[no-untyped-def]
    """Letta's default_requires_approval gates every call of the tool, for agents given it before
    or after the flag is set; update_approval turns it on and off per agent (built-ins too)."""
    source = '''def wire_money(amount: int) -> str:
    """Send money.

    Args:
        amount: How much.

    Returns:
        What was done.
    """
    return f"sent {amount}"
'''
    tool = client.tools.upsert(source_code=source, default_requires_approval=True)
    assert tool.default_requires_approval is True
    agent = _new_agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    fake_llm.script({"tool_calls": [{"name": "wire_money", "arguments": {"amount": 500}}]})
    waiting = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "pay"}])
    assert waiting.stop_reason.stop_reason == "requires_approval"
    assert waiting.messages[-1].message_type == "approval_request_message"
    assert not [m for m in waiting.messages if m.message_type == "tool_return_message"]  # it did not run
    fake_llm.script(say("Not sent."))
    client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approve": False, "approval_request_id": waiting.messages[-1].id, "reason": "no"}])

    client.agents.tools.update_approval("wire_money", agent_id=agent.id, body_requires_approval=False)
    fake_llm.script({"tool_calls": [{"name": "wire_money", "arguments": {"amount": 5}}]}, say("Sent 5."))
    ran = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "pay 5"}])
    assert any(m.message_type == "tool_return_message" and "sent 5" in m.tool_return for m in ran.messages)

    client.agents.tools.update_approval("core_memory_append", agent_id=agent.id, body_requires_approval=True)
    fake_llm.script({"tool_calls": [{"name": "core_memory_append", "arguments": {"label": "human", "content": "Y"}}]})
    gated = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "remember Y"}])
    assert gated.stop_reason.stop_reason == "requires_approval"
    with pytest.raises(letta_client.NotFoundError):
        client.agents.tools.update_approval("no_such_tool", agent_id=agent.id, body_requires_approval=True)

    # An agent file carries the flag both ways: out, and in again on a copy.
    client.agents.tools.update_approval("wire_money", agent_id=agent.id, body_requires_approval=True)
    exported = json.loads(client.agents.export_file(agent.id))
    assert [t.get("default_requires_approval") for t in exported["tools"] if t["name"] == "wire_money"] == [True]
    imported = client.agents.import_file(file=("ada.af", json.dumps(exported).encode()))
    copy = client.agents.retrieve(imported.agent_ids[0])
    assert [t.default_requires_approval for t in copy.tools if t.name == "wire_money"] == [True]


def test_a_server_between_requests_keeps_the_database_and_a_cli_still_gets_it_at_once(client, memos, memos_home):  # type: ignore[no-untyped-def]
    """The server keeps its connection (and the reads it remembers) across a pause between
    requests, where it used to let go after a quarter second and reopen for the next request;
    a CLI command that asks for the file meanwhile is let in at once, as when the server is busy."""
    import fcntl
    import time

    agent = _new_agent(client)
    time.sleep(0.6)  # a pause between a user's requests (the old hold was 0.25 s)
    with open(memos_home / "memos.duckdb.lock", "rb") as probe:
        with pytest.raises(BlockingIOError):  # still the server's
            fcntl.flock(probe.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    # Waiting out the server's hold (10 s) would exceed this lock timeout: the CLI would fail.
    listed = memos("agents", "list", "--json", env={"MEMOS_LOCK_TIMEOUT": "5"})
    assert listed.code == 0, listed.err
    assert [a["id"] for a in listed.json()] == [agent.id]
    assert client.agents.retrieve(agent.id).name == "ada"
