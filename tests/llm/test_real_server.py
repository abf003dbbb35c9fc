"""memos against a real llama.cpp server (see conftest.py): what the scripted replica in the
default suite stands in for. The model is a 270M base model, so what it says is not checked;
that memos stays usable, streams, and says what happened, is."""

from __future__ import annotations

import json

import pytest

from tests.conftest import end_chat, spawn_memos

pytestmark = pytest.mark.llm


@pytest.fixture
def agent(memos, real_llm) -> str:  # type: ignore[no-untyped-def]
    made = memos("agents", "create", "ada", "--model", "openai/gemma", "--context-window", "4096",
                 "--max-tokens", "48")
    assert made.code == 0, made.err
    return "ada"


def _stop(result) -> str:  # type: ignore[no-untyped-def]
    return str(result.json()["stop_reason"])


def test_turns_answer_and_are_recorded(memos, agent) -> None:  # type: ignore[no-untyped-def]
    for text in ("Hello! My name is Ana.", "What is my name?", "Thanks."):
        sent = memos("send", text, "--json", timeout=300)
        assert sent.code == 0, sent.err
        assert _stop(sent) in ("end_turn", "max_tokens_exceeded", "max_steps")
    runs = memos("runs", "list", "--json").json()
    assert len(runs) == 3 and all(r["status"] == "completed" for r in runs)
    assert all(r["cost_usd"] is None for r in runs)  # a local server: no list price


def test_a_reply_cut_off_by_max_tokens_leaves_the_agent_usable(memos, agent) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "update", "ada", "--max-tokens", "6").code == 0
    cut = memos("send", "Write a long story about a cat who remembers everything.", timeout=300)
    assert cut.code == 0, cut.err
    assert "cut off at its token limit (max_tokens 6)" in cut.err
    for _ in range(3):  # on 6c4d22d a call cut mid-arguments made every later request a 500
        again = memos("send", "Go on.", "--json", timeout=300)
        assert again.code == 0, again.err


def test_an_overflow_of_the_servers_context_is_summarised_away(memos, agent) -> None:  # type: ignore[no-untyped-def]
    # memos believes in a larger window than the server's 4096 tokens: the server refuses with its
    # exceed_context_size_error, and memos makes room and answers.
    assert memos("agents", "update", "ada", "--context-window", "16384").code == 0
    filler = " ".join(["The lighthouse keeper counted the waves and wrote each number down."] * 60)
    for index in range(3):
        assert memos("messages", "add", f"Note {index}: {filler}").code == 0
    sent = memos("send", "What did the lighthouse keeper do?", "--json", timeout=600)
    assert sent.code == 0, sent.err
    warnings = [m["message"] for m in sent.json()["messages"] if m["type"] == "warning"]
    assert any("making room" in w for w in warnings), warnings
    assert memos("send", "And then?", timeout=300).code == 0


def test_replies_stream_from_the_server(memos, agent) -> None:  # type: ignore[no-untyped-def]
    sent = memos("send", "Tell me about the sea.", "--jsonl", timeout=300)
    assert sent.code == 0, sent.err
    kinds = [json.loads(line)["type"] for line in sent.out.splitlines()]
    deltas = kinds.count("assistant_delta") + kinds.count("tool_call_delta")
    assert deltas >= 3, kinds  # pieces as the server writes them, before the step's whole message


def test_chat_in_a_terminal(memos, agent) -> None:  # type: ignore[no-untyped-def]
    child = spawn_memos("chat", timeout=300)
    child.expect("you> ")
    child.sendline("Hello there.")
    child.expect("you> ")
    child.sendline("How are you?")
    child.expect("you> ")
    end_chat(child)


def test_the_litellm_client(memos, agent) -> None:  # type: ignore[no-untyped-def]
    assert memos("config", "set", "llm_client", "litellm").code == 0
    assert memos("agents", "update", "ada", "--max-tokens", "6").code == 0
    for text in ("Hello.", "Go on.", "And?"):
        sent = memos("send", text, timeout=300)
        assert sent.code == 0, sent.err


def test_serve_with_letta_client(memos, real_llm) -> None:  # type: ignore[no-untyped-def]
    import letta_client

    from tests.e2e.test_serve import running_server

    with running_server() as url:
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0, timeout=300)
        agent = client.agents.create(name="ada", model="openai/gemma", max_tokens=32, context_window_limit=4096,
                                     memory_blocks=[{"label": "human", "value": "Name: Ana"}])
        reply = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
        assert reply.stop_reason is None or reply.stop_reason.stop_reason in ("end_turn", "max_tokens_exceeded")
        chunks = list(client.agents.messages.stream(agent_id=agent.id, stream_tokens=True,
                                                    messages=[{"role": "user", "content": "and?"}]))
        assert chunks and chunks[-1].message_type in ("usage_statistics", "stop_reason")


def test_models_lists_the_served_model(memos, real_llm) -> None:  # type: ignore[no-untyped-def]
    listed = memos("models", "--json").json()
    assert next(p for p in listed["providers"] if p["provider"] == "openai")["models"] == ["gemma"]
