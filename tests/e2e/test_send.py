"""`memos send` as a pipeline runs it, against the scripted fake LLM through real litellm."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from tests.conftest import MEMOS_BIN, as_from_a_terminal, call, say


def _tool_messages(request: dict) -> list[dict]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def test_memory_edit_persists_across_runs(memos, chat_agent, fake_llm):
    fake_llm.script(
        {"content": "I should remember her name.",
         **call("core_memory_replace", label="human", old_content="Nothing is known about the user yet.",
                new_content="Name: Ana")},
        say("Nice to meet you, Ana!"),
        say("Your name is Ana."),
    )
    first = memos("send", "Hi, I am Ana")
    assert first.code == 0, first.err
    assert first.out == "Nice to meet you, Ana!\n"  # the reply and nothing else
    assert memos("memory", "show", "human").out == "Name: Ana\n"
    history = memos("memory", "history", "human", "--json").json()
    assert history[-1]["actor"] == "agent" and history[-1]["reason"] == "core_memory_replace"

    second = memos("send", "What is my name?", "--json")
    data = second.json()
    assert data["stop_reason"] == "end_turn" and data["usage"]["steps"] == 1
    system_prompt = fake_llm.requests[-1]["messages"][0]["content"]
    assert "<human>" in system_prompt and "Name: Ana" in system_prompt  # a new process sees the edit
    assert [m["type"] for m in data["messages"]] == ["tool_call", "assistant", "tool_return"]


def test_archival_insert_then_found_in_a_later_turn(memos, chat_agent, fake_llm):
    fake_llm.script(
        call("archival_memory_insert", content="Ana's cat is called Miso.", tags=["pets"]),
        say("Noted."),
        call("archival_memory_search", query="what is the cat called"),
        say("Your cat is Miso."),
    )
    assert memos("send", "My cat is called Miso").code == 0
    result = memos("send", "What is my cat called?", "--json")
    assert result.code == 0, result.err
    search_return = _tool_messages(fake_llm.requests[3])[-1]["content"]
    assert json.loads(search_return)[0]["content"] == "Ana's cat is called Miso."
    assert memos("archival", "list", "--json").json()[0]["tags"] == ["pets"]


def test_summarised_messages_stay_searchable(memos, chat_agent, fake_llm):
    assert memos("agents", "update", "--context-window", "1000").code == 0
    for i in range(12):
        memos("messages", "add", f"Filler message {i}: " + "lorem ipsum dolor sit amet " * 8)
    memos("messages", "add", "The secret word is pineapple.")
    fake_llm.script(
        # A 1,000-token window takes the evicted transcript in two summary requests, folded in turn.
        {"content": "Ana wrote filler text."},
        {"content": "Ana talked about filler text and a secret word."},
        call("conversation_search", query="secret word"),
        say("It was pineapple."),
    )
    result = memos("send", "What was the secret word?", "--jsonl")
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    summary = [e for e in events if e["type"] == "summary"]
    assert summary and summary[0]["evicted"] > 0
    assert "summarising" in fake_llm.requests[0]["messages"][0]["content"]
    second = fake_llm.requests[1]["messages"][0]["content"]
    assert "The summary so far" in second and "Ana wrote filler text." in second
    assert all(len(r["messages"][0]["content"]) < 1000 * 4 for r in fake_llm.requests[:2])  # each fits the window
    step_request = fake_llm.requests[2]
    assert "Ana talked about filler text" in step_request["messages"][0]["content"]
    assert not any("Filler message 0" in (m.get("content") or "") for m in step_request["messages"][1:])
    found = _tool_messages(fake_llm.requests[3])[-1]["content"]
    assert "The secret word is pineapple." in found
    stats = memos("messages", "stats", "--json").json()
    assert stats["in_context"] < stats["total"]  # evicted, not deleted


def test_run_first_and_child_rules_shape_the_offered_tools(memos, chat_agent, fake_llm):
    rules = ['{"type": "run_first", "tool_name": "archival_memory_search"}',
             '{"type": "constrain_child_tools", "tool_name": "archival_memory_search", "children": ["send_message"]}']
    assert memos("agents", "update", *[a for r in rules for a in ("--tool-rule", r)]).code == 0
    fake_llm.script(call("archival_memory_search", query="anything"), say("Nothing stored yet."))
    result = memos("send", "hello")
    assert result.code == 0, result.err
    offered = [[t["function"]["name"] for t in r.get("tools", [])] for r in fake_llm.requests]
    assert offered == [["archival_memory_search"], ["send_message"]]


def test_rule_violation_is_an_error_the_agent_sees(memos, chat_agent, fake_llm):
    memos("agents", "update", "--tool-rule", '{"type": "run_first", "tool_name": "conversation_search"}')
    fake_llm.script(say("skipping the rule"), call("conversation_search", query="x"), say("ok"))
    assert memos("send", "hi").code == 0
    error = _tool_messages(fake_llm.requests[1])[-1]["content"]
    assert error.startswith("Error: tool 'send_message' is not allowed now")


def test_max_count_per_step_and_exit_loop(memos, chat_agent, fake_llm):
    memos("agents", "update", "--tool-rule", '{"type": "max_count_per_step", "tool_name": "conversation_search", "max_count_limit": 1}',
          "--tool-rule", '{"type": "exit_loop", "tool_name": "memory_insert"}')
    fake_llm.script(call("conversation_search", query="a"), call("memory_insert", label="human", new_string="likes rules"))
    result = memos("send", "hi", "--json")
    assert result.code == 0 and result.json()["stop_reason"] == "end_turn"
    offered = [[t["function"]["name"] for t in r["tools"]] for r in fake_llm.requests]
    assert "conversation_search" in offered[0] and "conversation_search" not in offered[1]
    assert fake_llm.remaining == 0  # exit_loop ended the turn after memory_insert


def test_approve_and_deny(memos, chat_agent, fake_llm):
    memos("agents", "update", "--tool-rule", '{"type": "requires_approval", "tool_name": "memory_rethink"}')
    fake_llm.script(call("memory_rethink", label="human", new_memory="Ana, likes tea"))
    waiting = memos("send", "Rewrite what you know about me")
    assert waiting.code == 3
    assert "waiting for approval of memory_rethink" in waiting.err
    assert memos("memory", "show", "human").out == "Nothing is known about the user yet.\n"
    blocked = memos("send", "hello?")
    assert blocked.code == 1 and "waiting for approval" in blocked.err
    listed = memos("approve", "--list", "--json").json()
    assert [p["name"] for p in listed] == ["memory_rethink"]

    fake_llm.script(say("Done."))
    approved = memos("approve")
    assert approved.code == 0 and approved.out == "Done.\n"
    assert memos("memory", "show", "human").out == "Ana, likes tea\n"

    fake_llm.script(call("memory_rethink", label="human", new_memory="(wiped)"))
    assert memos("send", "Forget everything").code == 3
    fake_llm.script(say("Understood, I kept it."))
    denied = memos("deny", "--reason", "keep my notes")
    assert denied.code == 0 and denied.out == "Understood, I kept it.\n"
    assert "the user denied this tool call. Reason: keep my notes" in _tool_messages(fake_llm.requests[-1])[-1]["content"]
    assert memos("memory", "show", "human").out == "Ana, likes tea\n"
    assert memos("deny").code == 1  # nothing waits any more


def test_max_steps(memos, chat_agent, fake_llm):
    fake_llm.script(call("conversation_search", query="a"), call("conversation_search", query="b"))
    result = memos("send", "loop please", "--max-steps", "2", "--json")
    assert result.code == 0 and result.json()["stop_reason"] == "max_steps"
    assert "stopped after 2 steps" in result.err


def test_rate_limit_then_success(memos, chat_agent, fake_llm):
    fake_llm.script({"status": 429}, {"status": 503}, say("Here I am."))
    result = memos("send", "hello")
    assert result.code == 0, result.err
    assert result.out == "Here I am.\n" and len(fake_llm.requests) == 3


def test_provider_refusal_is_one_line(memos, chat_agent, fake_llm):
    fake_llm.script({"status": 401, "message": "Incorrect API key provided"})
    result = memos("send", "hello")
    assert result.code == 1
    assert result.err.strip().splitlines()[-1] == "error: the provider refused the API key for openai/fake-model (check the key in the environment)"
    missing = memos("send", "hello", env={"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""})
    assert missing.code == 1 and "no API key for openai" in missing.err and "OPENAI_API_KEY" in missing.err


def test_malformed_tool_arguments_become_an_error_for_the_agent(memos, chat_agent, fake_llm):
    fake_llm.script({"tool_calls": [{"name": "core_memory_append", "arguments": '{"label": "human", "content": '}]},
                    say("Sorry, retrying was not needed."))
    result = memos("send", "remember I like tea")
    assert result.code == 0, result.err
    error = _tool_messages(fake_llm.requests[1])[-1]["content"]
    assert error.startswith("Error: the arguments of core_memory_append are not valid JSON")
    assert memos("memory", "show", "human").out == "Nothing is known about the user yet.\n"


def test_stdin_and_env_agent(memos, chat_agent, fake_llm):
    fake_llm.script({"content": "Plain answer without tools."})
    result = memos("send", input="hello from a pipe\n", env={"MEMOS_AGENT": "ada"})
    assert result.code == 0 and result.out == "Plain answer without tools.\n"
    assert fake_llm.requests[0]["messages"][-1] == {"role": "user", "content": "hello from a pipe\n"}


def test_ctrl_c_keeps_the_partial_reply(memos, chat_agent, fake_llm):
    full = " ".join(f"word{i}" for i in range(40))  # 20 s of reply: the interrupt lands mid-stream
    fake_llm.script({"content": full, "chunk_delay": 0.5})
    proc = subprocess.Popen([str(MEMOS_BIN), "send", "count slowly"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_from_a_terminal)
    deadline = time.monotonic() + 120
    while fake_llm.chunks_sent < 4:  # a few chunks of the reply are out (a pipe shows it only at the end)
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    partial = out.decode().strip()
    assert partial and full.startswith(partial) and partial != full
    stored = memos("messages", "list", "--limit", "1", "--json").json()[0]
    assert stored["role"] == "assistant" and stored["content"].strip() == partial


def test_models_lists_the_fake_server_and_aliases(memos, fake_llm):
    assert memos("config", "set", "aliases.fast", "openai/fake-model").code == 0
    data = memos("models", "--json").json()
    openai = [p for p in data["providers"] if p["provider"] == "openai"][0]
    assert openai["usable"] and openai["models"] == ["fake-model"]
    assert data["aliases"] == {"fast": "openai/fake-model"}
    groq = [p for p in data["providers"] if p["provider"] == "groq"][0]
    assert groq["usable"] is False and "GROQ_API_KEY is not set" in groq["detail"]


def test_alias_resolves_for_send(memos, chat_agent, fake_llm):
    memos("config", "set", "aliases.fast", "openai/fake-model")
    fake_llm.script({"content": "via alias"})
    result = memos("send", "hi", "--model", "fast")
    assert result.code == 0 and result.out == "via alias\n"


def test_failed_summary_evicts_unsummarised_and_the_turn_goes_on(memos, chat_agent, fake_llm):
    memos("agents", "update", "--context-window", "1000")
    for i in range(12):
        memos("messages", "add", f"Filler message {i}: " + "lorem ipsum dolor sit amet " * 8)
    fake_llm.script(*[{"status": 500}] * 4, {"content": "Still here."})  # every summary attempt fails
    result = memos("send", "hello")
    assert result.code == 0, result.err
    assert result.out == "Still here.\n"
    assert "summarising older messages failed" in result.err
    # The prompt shrank anyway (a failing summary must not brick the agent) and says what it lost.
    prompt = fake_llm.requests[-1]["messages"]
    assert "taken out of context without being summarised" in prompt[0]["content"]
    assert not any("Filler message 0" in (m.get("content") or "") for m in prompt[1:])
    assert prompt[-1] == {"role": "user", "content": "hello"}
    stats = memos("messages", "stats", "--json").json()
    assert stats["in_context"] < stats["total"] and stats["total"] >= 12 + 2  # evicted, nothing deleted
    found = memos("messages", "search", "Filler message 0", "--json").json()
    assert any(m["content"].startswith("Filler message 0:") for m in found)


def test_continue_loop_keeps_going_after_send_message(memos, chat_agent, fake_llm):
    memos("agents", "update", "--tool-rule", '{"type": "continue_loop", "tool_name": "send_message"}',
          "--tool-rule", '{"type": "exit_loop", "tool_name": "memory_finish_edits"}')
    fake_llm.script(say("First part."), call("memory_finish_edits"))
    result = memos("send", "go")
    assert result.code == 0 and result.out == "First part.\n" and fake_llm.remaining == 0


def test_an_agent_with_a_json_schema_answers_in_it(memos, fake_llm, tmp_path):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    (tmp_path / "city.json").write_text(json.dumps(schema))
    created = memos("agents", "create", "geo", "--model", "openai/fake-model", "--response-format",
                    str(tmp_path / "city.json"))
    assert created.code == 0, created.err
    assert memos("agents", "show", "geo", "--json").json()["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "city", "schema": schema}}
    assert "JSON Schema 'city'" in memos("agents", "show", "geo").out

    fake_llm.script({"content": '{"city": "Lisbon"}'})
    sent = memos("send", "--agent", "geo", "Where does the user work?")
    assert sent.code == 0 and json.loads(sent.out) == {"city": "Lisbon"}
    assert fake_llm.requests[-1]["response_format"]["json_schema"]["schema"] == schema

    assert memos("agents", "update", "geo", "--response-format", "text").code == 0
    assert memos("agents", "show", "geo", "--json").json()["response_format"] is None
    missing = memos("agents", "update", "geo", "--response-format", str(tmp_path / "nope.json"))
    assert missing.code == 1 and "cannot read the JSON Schema" in missing.err and "Traceback" not in missing.err
