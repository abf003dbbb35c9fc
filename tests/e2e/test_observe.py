"""What the agent did and what it cost, from the shell: `memos runs`, `memos usage`,
`memos send --usage`, `memos context`. The scripted LLM reports usage per reply; prices come
from litellm's price list bundled with memos (read without importing litellm)."""

from __future__ import annotations

import json

import pytest

from memos.core.pricing import price_entry
from tests.conftest import call, say

PRICED = "openai/gpt-4o-mini"  # in the price list; the fake server answers for any model name


def priced(prompt: int, completion: int) -> float:
    entry = price_entry("gpt-4o-mini")
    assert entry is not None
    return prompt * entry["input_cost_per_token"] + completion * entry["output_cost_per_token"]


@pytest.fixture
def two_agents(memos, fake_llm, monkeypatch):  # type: ignore[no-untyped-def]
    # Both answered by the scripted server, which is not OpenAI's own: ada's calls are priced as
    # configured (gpt-4o-mini's list price), bob's, named for another provider, have no price.
    entry = price_entry("gpt-4o-mini")
    assert entry is not None
    per_million = f"{entry['input_cost_per_token'] * 1e6:g}/{entry['output_cost_per_token'] * 1e6:g}"
    assert memos("config", "set", "providers.openai.price", per_million).code == 0
    assert memos("config", "set", "providers.groq.base_url", fake_llm.url).code == 0
    monkeypatch.setenv("GROQ_API_KEY", "gsk-fake")
    assert memos("agents", "create", "ada", "--model", PRICED).code == 0
    assert memos("agents", "create", "bob", "--model", "groq/fake-model").code == 0


def test_send_usage_runs_list_and_show(memos, fake_llm, two_agents) -> None:  # type: ignore[no-untyped-def]
    fake_llm.script({**call("conversation_search", query="pizza"), "prompt_tokens": 1200, "completion_tokens": 30},
                    {**say("Nothing about pizza yet."), "prompt_tokens": 1300, "completion_tokens": 15})
    sent = memos("send", "--agent", "ada", "--usage", "what did I say about pizza?")
    assert sent.code == 0, sent.err
    assert sent.out == "Nothing about pizza yet.\n"  # stdout stays the reply alone
    cost = priced(2500, 45)
    assert f"Token usage: 2,500 input, 45 output in 2 LLM call(s); ${cost:.6f}" in sent.err

    fake_llm.script(say("Hi."))
    unpriced = memos("send", "--agent", "bob", "-u", "hello")
    assert "Token usage: 100 input, 20 output in 1 LLM call(s); cost unknown (no price known for " \
           "groq/fake-model)" in unpriced.err

    runs = memos("runs", "list", "--json").json()
    assert [(r["agent"], r["steps"], r["tool_calls"], r["status"]) for r in runs] == [
        ("bob", 1, 1, "completed"), ("ada", 2, 2, "completed")]  # newest first; send_message counts as a call
    assert runs[0]["cost_usd"] is None and runs[0]["unpriced_steps"] == 1
    assert runs[1]["cost_usd"] == pytest.approx(cost) and runs[1]["prompt_tokens"] == 2500
    only_ada = memos("runs", "list", "--agent", "ada", "--json").json()
    assert [r["id"] for r in only_ada] == [runs[1]["id"]]

    shown = memos("runs", "show", "--last", "--agent", "ada", "--json").json()
    assert shown["id"] == runs[1]["id"] and shown["stop_reason"] == "end_turn"
    first, second = shown["step_list"]
    assert (first["prompt_tokens"], first["completion_tokens"]) == (1200, 30)
    assert [c["name"] for c in first["tool_calls"]] == ["conversation_search"]
    assert first["tool_calls"][0]["status"] == "success" and first["tool_calls"][0]["duration_ms"] >= 0
    assert first["llm_ms"] > 0 and first["step_ms"] >= first["llm_ms"]
    assert second["cost_usd"] == pytest.approx(priced(1300, 15))

    text = memos("runs", "show", runs[1]["id"])
    assert text.code == 0 and "step 1" in text.out and "conversation_search" in text.out
    assert memos("runs", "show", "run-nope").code == 1
    both = memos("runs", "show", runs[1]["id"], "--last")
    assert both.code == 1 and "not both" in both.err


def test_usage_totals_groups_and_sleep_passes_apart(memos, fake_llm, two_agents) -> None:  # type: ignore[no-untyped-def]
    fake_llm.script({**say("One."), "prompt_tokens": 1000, "completion_tokens": 10})
    assert memos("send", "--agent", "ada", "one").code == 0
    fake_llm.script({**say("Two."), "prompt_tokens": 500, "completion_tokens": 5})
    assert memos("send", "--agent", "bob", "two").code == 0
    # A sleep pass consolidates ada's memory: its LLM call is counted, as actor sleep.
    fake_llm.script({"tool_calls": [{"name": "memory_finish_edits", "arguments": {}}], "prompt_tokens": 700,
                     "completion_tokens": 7})
    assert memos("evolve", "--sleep", "--agent", "ada", "--policy", "off").code in (0, 10)

    report = memos("usage", "--json").json()
    by_actor = {r["actor"]: r for r in report["rows"]}
    assert by_actor["agent"]["llm_calls"] == 2 and by_actor["agent"]["prompt_tokens"] == 1500
    assert by_actor["agent"]["tool_calls"] == 2 and by_actor["agent"]["tool_errors"] == 0
    assert by_actor["agent"]["unpriced_calls"] == 1 and "1 call(s) of unknown price" in by_actor["agent"]["cost"]
    assert by_actor["agent"]["cost_usd"] == pytest.approx(priced(1000, 10))
    assert by_actor["agent"]["step_p50_ms"] > 0 and by_actor["agent"]["step_p95_ms"] >= by_actor["agent"]["step_p50_ms"]
    assert by_actor["sleep"]["llm_calls"] == 1 and by_actor["sleep"]["prompt_tokens"] == 700
    recent = {r["actor"]: r for r in memos("usage", "--since", "1d", "--json").json()["rows"]}
    assert (recent["agent"]["llm_calls"], recent["agent"]["tool_calls"]) == (2, 2)  # calls bounded like steps

    per_agent = memos("usage", "--by", "agent", "--json").json()["rows"]
    assert {(r["key"], r["actor"], r["prompt_tokens"]) for r in per_agent} == {
        ("ada", "agent", 1000), ("ada", "sleep", 700), ("bob", "agent", 500)}
    per_model = memos("usage", "--by", "model", "--agent", "bob", "--json").json()["rows"]
    assert [(r["key"], r["llm_calls"]) for r in per_model] == [("groq/fake-model", 1)]
    per_day = memos("usage", "--by", "day", "--since", "1d", "--json").json()
    assert len({r["key"] for r in per_day["rows"]}) == 1 and sum(r["llm_calls"] for r in per_day["totals"]) == 3
    assert memos("usage", "--since", "2099-01-01", "--json").json()["rows"] == []

    table = memos("usage", "--by", "agent")
    assert table.code == 0 and "ada" in table.out and "sleep" in table.out
    bad = memos("usage", "--by", "week")
    assert bad.code == 2

    runs = memos("runs", "list", "--json").json()
    assert {r["actor"] for r in runs} == {"agent", "sleep"}


def test_context_shows_what_the_next_prompt_holds(memos, fake_llm, two_agents) -> None:  # type: ignore[no-untyped-def]
    assert memos("memory", "set", "human", "Name: Sam. Likes pizza.", "--agent", "ada").code == 0
    before = memos("context", "--agent", "ada", "--json").json()
    parts = {p["name"]: p for p in before["parts"]}
    assert {"system prompt", "human", "persona", "memory metadata", "messages", "tool schemas"} <= set(parts)
    assert parts["human"]["kind"] == "block" and parts["human"]["tokens"] > 0
    assert before["total_tokens"] == sum(p["tokens"] for p in before["parts"])
    assert before["window"] == 128_000 and before["summarize_at_tokens"] == int(128_000 * 0.9)
    assert parts["tool schemas"]["detail"].endswith("tools") and before["tools"] >= 8

    fake_llm.script(say("Noted: " + "pizza " * 200))
    assert memos("send", "--agent", "ada", "I like pizza " * 50).code == 0
    after = memos("context", "--agent", "ada", "--json").json()
    messages = {p["name"]: p for p in after["parts"]}["messages"]
    # The user's message, the assistant's send_message call and its return.
    assert after["messages"] == 3 and messages["detail"] == "3 in context"
    assert messages["tokens"] > 400 and after["total_tokens"] > before["total_tokens"] + 400

    # What was counted is what the loop sends: the next request holds the system prompt, those
    # three messages and the new one, and the tools counted.
    fake_llm.script(say("Yes."))
    assert memos("send", "--agent", "ada", "still there?").code == 0
    request = fake_llm.requests[-1]
    assert len(request["messages"]) == 1 + after["messages"] + 1 and len(request["tools"]) == after["tools"]

    shown = memos("context", "--agent", "ada")
    assert shown.code == 0 and "block human" in shown.out and "summarises at 115,200" in shown.out
    assert json.loads(json.dumps(after))  # plain JSON


def test_chat_usage_command(memos, fake_llm, two_agents) -> None:  # type: ignore[no-untyped-def]
    import os

    import pexpect

    from tests.conftest import MEMOS_BIN, as_from_a_terminal
    from tests.e2e.test_chat import PROMPT

    fake_llm.script({**say("Hello Sam."), "prompt_tokens": 321, "completion_tokens": 12})
    child = pexpect.spawn(str(MEMOS_BIN), ["chat", "--agent", "bob"], encoding="utf-8", timeout=60,
                          env={**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "160"},
                          dimensions=(40, 160), preexec_fn=as_from_a_terminal)
    try:
        child.expect(PROMPT)
        child.sendline("/usage")
        child.expect("no LLM call yet")
        child.expect(PROMPT)
        child.sendline("hi")
        child.expect("Hello Sam.")
        child.expect(PROMPT)
        child.sendline("/usage")
        child.expect(r"last turn: Token usage: 321 input, 12 output in 1 LLM call\(s\); cost unknown")
        child.expect(r"session:   Token usage: 321 input")
        child.expect(PROMPT)
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_runs_steps_usage_and_context_through_lettas_sdk(fake_llm) -> None:  # type: ignore[no-untyped-def]
    import httpx
    import letta_client

    from tests.e2e.test_serve import running_server

    with running_server() as url:
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        agent = client.agents.create(name="ada", model=PRICED, memory_blocks=[
            {"label": "human", "value": "Name: Sam"}, {"label": "persona", "value": "I am Ada."}])
        other = client.agents.create(name="bob", model="openai/fake-model", memory_blocks=[])
        fake_llm.script({**call("conversation_search", query="pizza"), "prompt_tokens": 1200, "completion_tokens": 30},
                        {**say("Nothing yet."), "prompt_tokens": 1300, "completion_tokens": 15})
        reply = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "pizza?"}])
        assert all(m.run_id for m in reply.messages)  # every message names its run
        run_id = reply.messages[0].run_id
        fake_llm.script(say("Hi."))
        client.agents.messages.create(agent_id=other.id, messages=[{"role": "user", "content": "hi"}])

        listed = list(client.runs.list(agent_ids=[agent.id]))
        assert [r.id for r in listed] == [run_id] and listed[0].status == "completed"
        assert listed[0].stop_reason == "end_turn" and listed[0].total_duration_ns > 0
        assert len(list(client.runs.list())) == 2
        assert client.runs.retrieve(run_id).agent_id == agent.id

        steps = list(client.runs.steps.list(run_id))
        assert [(s.prompt_tokens, s.completion_tokens) for s in steps] == [(1200, 30), (1300, 15)]
        # Each returned message names the step that made it, as stored.
        assert [m.step_id for m in reply.messages] == [steps[0].id, steps[0].id, steps[1].id]
        assert all(s.run_id == run_id and s.model == PRICED for s in steps)
        assert client.steps.retrieve(steps[0].id).total_tokens == 1230
        assert [s.id for s in client.steps.list(agent_id=agent.id, order="asc")] == [s.id for s in steps]
        usage = client.runs.usage.retrieve(run_id)
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2500, 45, 2545)

        messages = list(client.runs.messages.list(run_id))
        kinds = [m.message_type for m in messages]
        assert kinds[0] == "user_message" and "tool_call_message" in kinds and kinds[-1] == "assistant_message"
        assert all(m.run_id == run_id for m in messages)

        http = httpx.Client(base_url=url, timeout=30)
        context = http.get(f"/v1/agents/{agent.id}/context").json()
        assert context["context_window_size_max"] == 128_000
        assert context["num_messages"] == len(fake_llm.requests[-2]["messages"]) - 1 + 2  # then: + the last step's two
        assert context["context_window_size_current"] == sum(p["tokens"] for p in context["parts"])
        assert context["num_tokens_functions_definitions"] > 0 and "Name: Sam" in context["core_memory"]
        assert http.get("/v1/runs/run-nope").status_code == 404
        assert http.get("/v1/steps/step-nope").status_code == 404
        assert http.get("/v1/agents/agent-nope/context").status_code == 404


REPLY = "Hello Sam, here is a reply long enough to arrive in many small pieces over the wire."


def test_token_streaming_sends_deltas_before_the_llm_has_finished(fake_llm) -> None:  # type: ignore[no-untyped-def]
    import threading

    import letta_client

    from tests.e2e.test_serve import running_server

    resume = threading.Event()
    with running_server() as url:
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        agent = client.agents.create(name="ada", model="openai/fake-model", memory_blocks=[])
        # Step 1 calls a tool (its arguments stream as tool-call deltas); step 2 replies through
        # send_message, and the fake LLM stops after 4 chunks of it until the test lets it go on.
        fake_llm.script(call("conversation_search", query="what did we say about the weather in Lisbon"),
                        {**say(REPLY), "pause_after": 4, "resume": resume})
        chunks = []
        first_reply_before_the_end = None
        for chunk in client.agents.messages.stream(agent_id=agent.id, stream_tokens=True,
                                                   messages=[{"role": "user", "content": "hi"}]):
            chunks.append(chunk)
            if chunk.message_type == "assistant_message" and first_reply_before_the_end is None:
                first_reply_before_the_end = not resume.is_set()
                resume.set()
        assert first_reply_before_the_end is True  # the delta came while the LLM was still held

        replies = [c for c in chunks if c.message_type == "assistant_message"]
        assert len(replies) > 3 and len({c.id for c in replies}) == 1  # deltas of one message
        assert "".join(c.content for c in replies) == REPLY
        calls = [c for c in chunks if c.message_type == "tool_call_message"]
        assert len(calls) > 2 and len({c.id for c in calls}) == 1
        arguments = "".join(c.tool_call.arguments for c in calls)
        assert json.loads(arguments) == {"query": "what did we say about the weather in Lisbon"}
        returns = [c for c in chunks if c.message_type == "tool_return_message"]
        assert [r.name for r in returns] == ["conversation_search"]
        assert chunks[-1].message_type == "usage_statistics" and all(c.run_id for c in replies + calls)

        # Without stream_tokens: one message per step, as before.
        fake_llm.script(say(REPLY))
        whole = [c for c in client.agents.messages.stream(agent_id=agent.id,
                                                            messages=[{"role": "user", "content": "again"}])
                 if c.message_type == "assistant_message"]
        assert [c.content for c in whole] == [REPLY]


def test_cancelling_mid_token_keeps_what_was_written(fake_llm) -> None:  # type: ignore[no-untyped-def]
    import threading

    import letta_client

    from tests.e2e.test_serve import running_server

    resume = threading.Event()
    with running_server() as url:
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        agent = client.agents.create(name="ada", model="openai/fake-model", memory_blocks=[])
        fake_llm.script({**say(REPLY), "pause_after": 5, "resume": resume})
        chunks = []
        for chunk in client.agents.messages.stream(agent_id=agent.id, stream_tokens=True,
                                                   messages=[{"role": "user", "content": "hi"}]):
            chunks.append(chunk)
            if chunk.message_type == "assistant_message" and not resume.is_set():
                assert client.agents.messages.cancel(agent_id=agent.id)["cancelled"] == 1
                resume.set()
        assert [c.stop_reason for c in chunks if c.message_type == "stop_reason"] == ["cancelled"]
        streamed = "".join(c.content for c in chunks if c.message_type == "assistant_message")
        kept = client.agents.messages.list(agent_id=agent.id, limit=1).items[0]
        assert kept.message_type == "assistant_message"
        assert kept.content and REPLY.startswith(kept.content) and len(kept.content) < len(REPLY)
        assert kept.content.startswith(streamed)  # what the client saw is kept (and maybe a piece more)


def test_runs_page_through_the_store_both_ways(fake_llm) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from tests.e2e.test_serve import running_server

    with running_server() as url:
        http = httpx.Client(base_url=url, timeout=30)
        agent = http.post("/v1/agents/", json={"name": "ada", "model": "openai/fake-model", "memory_blocks": []}).json()
        for word in ("one", "two", "three", "four", "five"):
            fake_llm.script(say(f"ok {word}"))
            http.post(f"/v1/agents/{agent['id']}/messages", json={"messages": [{"role": "user", "content": word}]})
        newest_first = [r["id"] for r in http.get("/v1/runs/", params={"limit": 100}).json()]
        assert len(newest_first) == 5
        pages, after = [], None
        while True:
            page = http.get("/v1/runs/", params={"limit": 2, **({"after": after} if after else {})}).json()
            if not page:
                break
            pages += [r["id"] for r in page]
            after = page[-1]["id"]
        assert pages == newest_first
        oldest_first = [r["id"] for r in http.get("/v1/runs/", params={"order": "asc", "limit": 100}).json()]
        assert oldest_first == list(reversed(newest_first))
        before = http.get("/v1/runs/", params={"before": newest_first[3], "limit": 2}).json()
        assert [r["id"] for r in before] == newest_first[1:3]  # the page just before the cursor
        between = http.get("/v1/runs/", params={"after": newest_first[0], "before": newest_first[3]}).json()
        assert [r["id"] for r in between] == newest_first[1:3]
        assert http.get("/v1/runs/", params={"statuses": "failed"}).json() == []
        assert len(http.get("/v1/runs/", params={"statuses": "completed", "agent_id": agent["id"]}).json()) == 5


def test_steps_page_through_the_store_with_their_filters(fake_llm) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from tests.e2e.test_serve import running_server

    with running_server() as url:
        http = httpx.Client(base_url=url, timeout=30)
        agent = http.post("/v1/agents/", json={"name": "ada", "model": "openai/fake-model", "memory_blocks": []}).json()
        fake_llm.script(call("conversation_search", query="x"), say("one"), say("two"))
        for word in ("first", "second"):
            http.post(f"/v1/agents/{agent['id']}/messages", json={"messages": [{"role": "user", "content": word}]})
        steps = [s["id"] for s in http.get("/v1/steps/", params={"limit": 100}).json()]  # newest first
        assert len(steps) == 3
        first_run = http.get("/v1/runs/", params={"order": "asc", "limit": 1}).json()[0]["id"]
        in_run = [s["id"] for s in http.get(f"/v1/runs/{first_run}/steps", params={"limit": 1}).json()]
        more = [s["id"] for s in http.get(f"/v1/runs/{first_run}/steps", params={"after": in_run[0]}).json()]
        assert in_run + more == list(reversed(steps[1:]))  # the first run's two steps, oldest first
        assert [s["id"] for s in http.get("/v1/steps/", params={"before": steps[2], "limit": 1}).json()] == [steps[1]]
        assert http.get("/v1/steps/", params={"model": "openai/other"}).json() == []
        assert http.get("/v1/steps/", params={"start_date": "2099-01-01"}).json() == []
        assert len(http.get("/v1/steps/", params={"end_date": "2099-01-01T00:00:00Z"}).json()) == 3
