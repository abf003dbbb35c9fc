"""A long-lived agent: thousands of messages, stray rows, huge inputs, concurrent pipelines and
kill -9. Each test is a way a real agent broke; it runs memos as a user would and checks what
the user (and the next turn) sees. The fake LLM refuses prompts a real provider would refuse
(tool-message ordering, context length), so a malformed prompt fails the test."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.conftest import MEMOS_BIN, call, command_lines, run_statuses, say


@contextmanager
def store() -> Iterator[Any]:
    """The store as memos sees it, opened in this process for checks (closed at once after)."""
    from memos.core.workspace import Workspace

    ws = Workspace()
    try:
        yield ws.store
    finally:
        ws.close()


def agent_id(name: str = "ada") -> str:
    with store() as s:
        return s.get_agent(name).id


def runs(name: str = "ada") -> list[tuple[str, str | None]]:
    with store() as s:
        return run_statuses(s, s.get_agent(name).id)


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(MEMOS_BIN), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def user_texts(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "user"]


# -- the prompt ------------------------------------------------------------------------


def test_the_newest_message_is_last_in_the_prompt_past_5000_messages(memos, chat_agent, fake_llm):
    from memos.store.base import NewMessage

    with store() as s:
        s.append_messages(s.get_agent("ada").id,
                          [NewMessage("user" if i % 2 == 0 else "assistant", f"note {i}") for i in range(6_000)])
    fake_llm.script({"content": "A long chat of numbered notes."}, say("hello back"))
    result = memos("send", "hello MARKER", "--jsonl")
    assert result.code == 0, result.err
    summary = [json.loads(line) for line in result.out.splitlines() if '"summary"' in line]
    assert summary and summary[0]["evicted"] >= 6_000 - 5_000  # the count cap summarised, never truncated
    assert "note 0" in fake_llm.requests[0]["messages"][0]["content"]  # the oldest reached the summary
    prompt = fake_llm.requests[1]
    assert user_texts(prompt)[-1] == "hello MARKER"
    assert "A long chat of numbered notes." in prompt["messages"][0]["content"]
    assert len(prompt["messages"]) <= 5_000
    with store() as s:
        stats = s.message_stats(s.get_agent("ada").id)
    assert stats.total >= 6_002 and stats.in_context < 5_000  # evicted, still stored and searchable


def test_stray_rows_cannot_make_a_prompt_invalid(memos, chat_agent, fake_llm):
    refused = memos("messages", "add", "--role", "tool", "x")
    assert refused.code == 2 and "tool" in refused.err and "Traceback" not in refused.err
    from memos.store.base import NewMessage

    with store() as s:  # what an old version, an import or a crash could have left
        s.append_messages(s.get_agent("ada").id, [
            NewMessage("tool", "orphan result", name="x"),
            NewMessage("user", "earlier question"),
            NewMessage("assistant", "", tool_calls=[{"id": "call_lost", "name": "conversation_search",
                                                     "arguments": "{}"}]),
            NewMessage("tool", "answers nothing", tool_call_id="call_other"),
            NewMessage("assistant", "half", tool_calls=[{"id": "call_a", "name": "send_message", "arguments": "{}"},
                                                        {"id": "call_b", "name": "send_message", "arguments": "{}"}]),
            NewMessage("tool", "None", name="send_message", tool_call_id="call_a"),
        ])
    fake_llm.script(say("All good."))
    result = memos("send", "still there?")
    assert result.code == 0, result.err
    assert result.out == "All good.\n"
    assert fake_llm.rejected == []
    sent = fake_llm.requests[0]["messages"]
    assert "orphan result" not in json.dumps(sent) and "call_lost" not in json.dumps(sent)
    kept = [m for m in sent if m["role"] == "assistant" and m.get("tool_calls")]
    assert [c["id"] for c in kept[0]["tool_calls"]] == ["call_a"]  # the answered call stays


# -- size ------------------------------------------------------------------------------


def test_a_huge_message_is_refused_before_anything_is_stored(memos, chat_agent, fake_llm):
    huge = "x" * 2_000_001
    result = memos("send", "-", input=huge)
    assert result.code == 1
    assert result.err.count("\n") == 1 and "at most 1,000,000" in result.err
    with store() as s:
        assert s.message_stats(s.get_agent("ada").id).total == 0
    fake_llm.script(say("fine"))
    assert memos("send", "hi").out == "fine\n"


def test_a_long_message_and_a_small_provider_window_never_brick_the_agent(memos, chat_agent, fake_llm):
    # The provider takes 100k chars (~25k tokens) though the agent believes in 128k tokens.
    fake_llm.max_request_chars = 100_000
    long_text = "lorem ipsum " * 50_000  # 600k chars: stored; the prompt shows it cut
    first = memos("send", "-", input=long_text)
    # The cut view (128k chars) is still too big for this provider: refused, then room is made
    # by summarising; the message itself cannot leave (it is the turn), so this turn fails ...
    assert first.code == 1 and "too long" in first.err and "Traceback" not in first.err
    assert fake_llm.rejected
    # ... but the next turn works: the long message is now old, and leaves the prompt.
    fake_llm.script({"content": "The user pasted a long lorem ipsum text."}, say("ready"))
    second = memos("send", "short question")
    assert second.code == 0, second.err
    assert second.out == "ready\n" and fake_llm.remaining == 0
    accepted = fake_llm.requests[-1]
    assert user_texts(accepted)[-1] == "short question"
    assert len(json.dumps(accepted["messages"])) <= 100_000
    with store() as s:
        found = s.search_messages(s.get_agent("ada").id, "lorem", roles=["user"])
    assert [len(m.content) for m in found] == [len(long_text)]  # stored whole, searchable


# -- concurrency -----------------------------------------------------------------------


def test_concurrent_sends_take_turns(memos, chat_agent, fake_llm):
    count = 20  # as many pipelines as the issue that found the interleaving
    fake_llm.script(*[say(f"answer {i}") for i in range(count)])
    procs = [start("send", f"question {i}") for i in range(count)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * count, [o[1] for o in outs]
    assert fake_llm.rejected == []
    seen: set[str] = set()
    for request in fake_llm.requests:  # one turn per request: one new question, earlier ones answered
        questions = [t for t in user_texts(request) if t.startswith("question")]
        new = [q for q in questions if q not in seen]
        assert len(new) == 1, questions
        assert questions[-1] == new[0]
        assistant_turns = [m for m in request["messages"] if m["role"] == "assistant"]
        assert len(assistant_turns) == len(seen)  # every earlier turn is complete
        seen.add(new[0])
    assert len(seen) == count


def test_a_busy_agent_makes_a_send_wait_or_refuse(memos, chat_agent, fake_llm):
    gate = threading.Event()
    fake_llm.script({**say("first"), "gate": gate}, say("second"))
    first = start("send", "one")
    fake_llm.wait_for_requests(1)
    busy = memos("send", "--no-wait", "two")
    assert busy.code == 75
    assert "busy" in busy.err and f"pid {first.pid}" in busy.err
    waiting = start("send", "two")
    deadline = time.monotonic() + 60
    line = ""
    assert waiting.stderr is not None
    while time.monotonic() < deadline and "waiting" not in line:
        line = waiting.stderr.readline()
    assert f"waiting for agent ada (busy in pid {first.pid})" in line
    gate.set()
    assert first.communicate(timeout=60)[0] == "first\n"
    assert waiting.communicate(timeout=60)[0] == "second\n" and waiting.returncode == 0


def test_a_rewrite_never_overwrites_an_edit_it_has_not_seen(memos, chat_agent, fake_llm):
    gate = threading.Event()
    fake_llm.script({**call("memory_rethink", label="human", new_memory="The user is called Ana."), "gate": gate},
                    call("memory_rethink", label="human", new_memory="The user is called Ana. Likes tea."),
                    say("Noted."))
    turn = start("send", "I'm Ana")
    fake_llm.wait_for_requests(1)  # the agent has read the block; now the person edits it
    assert memos("memory", "append", "human", "Likes tea.").code == 0
    gate.set()
    out, err = turn.communicate(timeout=60)
    assert turn.returncode == 0, err
    conflict = [m for m in fake_llm.requests[1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "changed since you read it" in conflict and "Likes tea." in conflict
    shown = memos("memory", "show", "human").out
    assert shown.strip() == "The user is called Ana. Likes tea."  # the redo, made against the new value
    history = memos("memory", "history", "human", "--json").json()
    assert [h["actor"] for h in history][-2:] == ["user", "agent"]


# -- kill -9 -----------------------------------------------------------------------------


def test_killed_while_waiting_for_the_llm(memos, chat_agent, fake_llm):
    gate = threading.Event()
    fake_llm.script({**say("never seen"), "gate": gate}, say("back"))
    turn = start("send", "first")
    fake_llm.wait_for_requests(1)
    kill(turn)
    gate.set()
    assert runs() == [("running", None)]
    result = memos("send", "second")
    assert result.code == 0 and result.out == "back\n", result.err
    assert "interrupted" in result.err
    assert runs()[0] == ("interrupted", "interrupted") and runs()[1] == ("completed", "end_turn")
    assert fake_llm.rejected == []


def test_killed_mid_tool_call_leaves_no_half_step(memos, chat_agent, fake_llm, tmp_path):
    source = tmp_path / "slow.py"
    source.write_text('def slow() -> str:\n    """Take a while."""\n    import time\n    time.sleep(30)\n'
                      '    return "done"\n')
    assert memos("tools", "import", str(source)).code == 0
    fake_llm.script({"tool_calls": [{"name": "core_memory_append", "arguments": {"label": "human", "content": "X"}},
                                    {"name": "slow", "arguments": {}}]}, say("back"))
    turn = start("send", "go")
    fake_llm.wait_for_requests(1)
    deadline = time.monotonic() + 60
    own_jail = f"memos-jail-{turn.pid}-"  # this turn's worker, not one of a test running beside it
    while not any("sandbox_worker" in line and own_jail in line for line in command_lines()):
        assert turn.poll() is None, f"the turn ended before its tool started: {turn.communicate()}"
        assert time.monotonic() < deadline, "the tool never started"
        time.sleep(0.05)
    kill(turn)
    before = memos("memory", "history", "human", "--json").json()
    assert [h["actor"] for h in before] == ["user"]  # no edit without the step that made it
    with store() as s:
        assert s.list_tool_calls(s.get_agent("ada").id) == []
    result = memos("send", "again")
    assert result.code == 0, result.err
    assert runs()[0][0] == "interrupted"


def test_a_memory_edit_and_its_record_survive_a_kill_together(memos, chat_agent, fake_llm):
    gate = threading.Event()
    fake_llm.script(call("core_memory_append", label="human", content="Plays chess."),
                    {**say("never seen"), "gate": gate}, say("back"))
    turn = start("send", "remember chess")
    fake_llm.wait_for_requests(2)  # the edit's step is done; the next LLM call hangs
    kill(turn)
    gate.set()
    history = memos("memory", "history", "human", "--json").json()
    assert history[-1]["actor"] == "agent" and "Plays chess." in history[-1]["new_value"]
    with store() as s:
        [record] = s.list_tool_calls(s.get_agent("ada").id, name="core_memory_append")
    assert record.status == "success" and record.step_id
    assert memos("send", "next").code == 0
    assert fake_llm.rejected == []


def test_a_killed_approval_is_recovered(memos, chat_agent, fake_llm):
    memos("agents", "update", "--tool-rule", '{"type": "requires_approval", "tool_name": "memory_rethink"}')
    gate = threading.Event()
    fake_llm.script(call("memory_rethink", label="human", new_memory="Ana."),
                    {**say("never seen"), "gate": gate}, say("back"))
    assert memos("send", "rewrite it").code == 3  # waits for approval; a kill now loses nothing
    assert runs() == [("completed", "requires_approval")]
    approving = start("approve")
    fake_llm.wait_for_requests(2)
    kill(approving)
    gate.set()
    assert memos("memory", "show", "human").out.strip() == "Ana."  # approved, run, recorded
    assert memos("approve", "--list", "--json").json() == []
    result = memos("send", "and now?")
    assert result.code == 0 and result.out == "back\n", result.err
    assert ("interrupted", "interrupted") in runs()
    assert fake_llm.rejected == []


def test_a_server_killed_mid_stream(memos, chat_agent, fake_llm):
    import re

    import httpx

    gate = threading.Event()
    fake_llm.script(call("core_memory_append", label="human", content="Streams."),
                    {**say("never seen"), "gate": gate}, say("back"))
    server = start("serve", "--port", "0")
    try:
        assert server.stderr is not None
        announced = re.search(r"http://[\d.]+:\d+", server.stderr.readline())
        assert announced, "the server announced no address"
        base = announced.group(0)
        with httpx.stream("POST", f"{base}/v1/agents/{agent_id()}/messages/stream", timeout=60,
                          json={"messages": [{"role": "user", "content": "hi"}]}) as response:
            assert response.status_code == 200
            fake_llm.wait_for_requests(2)
            kill(server)
    finally:
        if server.poll() is None:
            kill(server)
    gate.set()
    result = memos("send", "still there?")
    assert result.code == 0 and result.out == "back\n", result.err
    assert runs()[0] == ("interrupted", "interrupted")
    assert "Streams." in memos("memory", "show", "human").out
    assert fake_llm.rejected == []




def test_long_text_becomes_several_passages(memos, chat_agent):
    from memos.core.ingest import PASSAGE_CHARS

    paragraph = "The quick brown fox jumps over the lazy dog. " * 40  # ~1,800 chars
    text = "\n\n".join(f"Part {i}. {paragraph}" for i in range(12))
    result = memos("archival", "add", "--format", "text", "-", "--json", input=text)
    assert result.code == 0, result.err
    passages = result.json()
    assert len(passages) > 1 and all(len(p["text"]) <= PASSAGE_CHARS for p in passages)
    assert "".join(p["text"] for p in passages).replace(" ", "").replace("\n", "") \
        == text.replace(" ", "").replace("\n", "")  # nothing lost


def test_doctor_finds_and_repairs_what_a_crash_leaves(memos, chat_agent, fake_llm, memos_home):
    import duckdb

    gate = threading.Event()
    fake_llm.script({**say("never seen"), "gate": gate}, {**say("nor this"), "gate": gate})
    turn = start("send", "hello")
    fake_llm.wait_for_requests(1)
    kill(turn)
    side = start("send", "-c", "side", "hello there")  # a turn killed in a conversation too
    fake_llm.wait_for_requests(2)
    kill(side)
    gate.set()
    assert memos("archival", "add", "The lighthouse keeper feeds the gulls.").code == 0
    db = str(memos_home / "memos.duckdb")
    shutil.rmtree(memos_home / "memos.duckdb.text")  # a text index lost (it is derived data)

    checked = memos("doctor", "--no-repair", "--json")
    assert checked.code == 1
    found = {f["check"]: f for f in checked.json()["agents"][0]["findings"]}
    assert found["runs"]["status"] == "problem" and found["text index"]["status"] == "problem"
    assert found["runs"]["detail"].startswith("2 run(s) left running")
    assert [r[0] for r in runs()] == ["running", "running"]  # --no-repair changed nothing

    repaired = memos("doctor")
    assert repaired.code == 0, repaired.out + repaired.err
    assert "repaired" in repaired.out
    assert runs() == [("interrupted", "interrupted")] * 2
    hits = memos("archival", "search", "lighthouse", "--mode", "text", "--json").json()
    assert [h["text"] for h in hits] == ["The lighthouse keeper feeds the gulls."]
    again = memos("doctor", "--json")
    assert again.code == 0 and {f["status"] for a in again.json()["agents"] for f in a["findings"]} == {"ok"}

    con = duckdb.connect(db)  # an agent edit that no tool call explains cannot be repaired by memos
    con.execute("INSERT INTO block_history SELECT block_id, version + 100, old_value, new_value, 'agent', "
                "'core_memory_append', NULL, created_at FROM block_history LIMIT 1")
    con.close()
    broken = memos("doctor")
    assert broken.code == 1 and "core_memory_append edit(s) without a recorded tool call" in broken.out



def test_the_api_answers_409_while_another_process_holds_the_agent(memos, chat_agent, monkeypatch):
    from fastapi.testclient import TestClient

    import memos.server.turns as turns
    from memos.server.app import create_app

    monkeypatch.setattr(turns, "TURN_WAIT", 0.3)
    with store() as s:
        held = s.turn_lock(s.get_agent("ada").id)  # as a `memos send` in another terminal would
        assert held.try_acquire()
        try:
            client = TestClient(create_app(), base_url="http://127.0.0.1:8283")
            busy = client.post(f"/v1/agents/{agent_id()}/messages",
                               json={"messages": [{"role": "user", "content": "hi"}]})
        finally:
            held.release()
    assert busy.status_code == 409
    assert "busy with another turn" in busy.json()["detail"] and f"pid {os.getpid()}" in busy.json()["detail"]
    assert "retry" in busy.json()["hint"]
    with store() as s:
        assert s.message_stats(s.get_agent("ada").id).total == 0  # refused before anything was stored


@pytest.mark.slow
def test_doctor_makes_the_fast_copy_of_the_embedding_model(memos, tmp_path):
    """Without the ONNX copy every command that embeds first builds one in memory; doctor says so,
    and writes it."""
    memos("agents", "create", "ada")
    cache = tmp_path / "fresh-model-cache"
    env = {"MEMOS_MODEL_CACHE": str(cache)}
    checked = memos("doctor", "--no-repair", "--json", env=env)
    found = {f["check"]: f for f in checked.json()["home"]}
    assert checked.code == 1 and found["embedding model"]["status"] == "problem"
    assert "makes one in memory first" in found["embedding model"]["detail"] and not cache.exists()
    repaired = memos("doctor", "--json", env=env)
    found = {f["check"]: f for f in repaired.json()["home"]}
    assert repaired.code == 0 and found["embedding model"]["status"] == "repaired", repaired.err
    assert [p.suffix for p in cache.iterdir() if not p.name.startswith(".")] == [".onnx"]
    again = {f["check"]: f for f in memos("doctor", "--json", env=env).json()["home"]}
    assert again["embedding model"]["status"] == "ok" and "onnxruntime" in again["embedding model"]["detail"]
