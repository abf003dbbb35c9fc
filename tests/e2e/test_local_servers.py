"""memos against a server that answers as llama.cpp's llama-server does (the scripted replica in
tests/fakellm.py; tests/llm/ runs the same against a real llama-server).

On 6c4d22d a tool call cut off by the token limit bricked the agent for good: its broken
arguments went back in every request, llama.cpp refused each with a 500 that memos retried four
times. llama.cpp's context-size 400 was not recognised; the summarise threshold ignored the
tool schemas; `memos chat` showed a send_message reply only once it was whole; requests had no
max_tokens; a cut-off reply was not said; a made-up tool name was blamed on tool rules; summary
calls were not counted; a local server was charged OpenAI's price; `memos models` listed
llama.cpp's file path; `memos send --json` printed nothing when a turn failed.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pexpect
import pytest

from tests.conftest import call, end_chat, say, serving, spawn_memos
from tests.fakellm import LlamaCppReplica

OVERFLOWS = json.loads((Path(__file__).parent.parent / "data" / "context_overflow_errors.json").read_text())
OVERFLOWS.pop("_about")
CUT_OFF = {"tool_calls": [{"name": "core_memory_append", "arguments": '{"label": "human", "content": "My old'}],
           "finish_reason": "length"}


@pytest.fixture(params=["httpx", "litellm"])
def client(request: pytest.FixtureRequest, memos) -> str:  # type: ignore[no-untyped-def]
    """Both of memos's LLM clients: plain HTTP (the default) and litellm."""
    if request.param == "litellm":
        assert memos("config", "set", "llm_client", "litellm").code == 0
    return str(request.param)


@pytest.fixture
def llama(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    yield from serving(LlamaCppReplica(n_ctx=8192), monkeypatch)


@pytest.fixture
def gemma(memos, llama) -> str:  # type: ignore[no-untyped-def]
    created = memos("agents", "create", "ada", "--model", "openai/gemma", "--max-tokens", "256")
    assert created.code == 0, created.err
    return "ada"


def test_a_call_cut_off_mid_arguments_never_bricks_the_agent(memos, llama, gemma, client) -> None:  # type: ignore[no-untyped-def]
    llama.script(CUT_OFF, say("Sorry, I was cut off."), say("Still here."))
    first = memos("send", "remember my old address", "--json")
    assert first.code == 0, first.err
    warnings = [m["message"] for m in first.json()["messages"] if m["type"] == "warning"]
    assert any("cut off at its token limit (max_tokens 256) in the middle of a call to core_memory_append" in w
               for w in warnings), first.out
    returns = [m for m in first.json()["messages"] if m["type"] == "tool_return"]
    assert returns[0]["status"] == "error" and "not valid JSON" in returns[0]["result"]
    second = memos("send", "are you there?")
    assert second.code == 0, second.err
    assert second.out == "Still here.\n"
    assert llama.rejected == []  # no request held arguments llama.cpp cannot parse
    for request in llama.requests:
        for message in request["messages"]:
            for tool_call in message.get("tool_calls") or []:
                assert isinstance(json.loads(tool_call["function"]["arguments"]), dict)
        assert request["max_tokens"] == 256
    # The unfinished arguments are kept as they came, for a person to see.
    log = memos("messages", "list", "--json").json()
    assert any('\\"content\\": \\"My old' in json.dumps(m) for m in log)


def test_a_reply_cut_off_by_the_limit_is_said_and_is_the_stop_reason(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    llama.script({"content": "Once upon a time there was", "finish_reason": "length"},
                 {"content": "Once upon a time there was", "finish_reason": "length"})
    plain = memos("send", "tell me a story")
    assert plain.code == 0 and plain.out == "Once upon a time there was\n"
    assert "cut off at its token limit" in plain.err and "`memos agents update --max-tokens N`" in plain.err
    sent = memos("send", "tell me a story", "--json")
    assert sent.code == 0
    assert sent.json()["stop_reason"] == "max_tokens_exceeded"
    runs = memos("runs", "list", "--json").json()
    assert runs[0]["stop_reason"] == "max_tokens_exceeded"


def test_a_server_error_saying_the_request_is_malformed_is_not_retried(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    body = {"error": {"code": 500, "type": "server_error",
                      "message": "Failed to parse tool call arguments as JSON: parse error at line 1"}}
    llama.script({"status": 500, "body": body})
    failed = memos("send", "hello", "--json")
    assert failed.code == 1
    assert llama.request_count == 1  # once, not four times
    assert failed.err.count("\n") == 1 and "refused the request as malformed" in failed.err
    document = failed.json()  # a failed turn still answers in JSON on stdout
    assert document["stop_reason"] == "error" and "malformed" in document["error"]


@pytest.mark.parametrize("server", sorted(OVERFLOWS))
def test_every_servers_context_overflow_summarises_and_retries(memos, llama, gemma, server: str) -> None:  # type: ignore[no-untyped-def]
    refusal = OVERFLOWS[server]
    llama.script(say("One."), say("Two."), {"status": refusal["status"], "body": refusal["body"]},
                 {"content": "Summary: the user counted to two."}, say("Three."))
    for text in ("count", "go on"):
        assert memos("send", text).code == 0
    third = memos("send", "and again", "--json")
    assert third.code == 0, third.err
    replies = [m["text"] for m in third.json()["messages"] if m["type"] == "assistant"]
    assert replies == ["Three."], third.out
    warnings = [m["message"] for m in third.json()["messages"] if m["type"] == "warning"]
    assert any("making room by summarising" in w for w in warnings), warnings
    assert any(m["type"] == "summary" for m in third.json()["messages"])


@pytest.mark.parametrize("server", ["llama.cpp", "lm_studio", "anthropic"])
def test_the_litellm_client_makes_room_the_same_way(memos, llama, gemma, server: str) -> None:  # type: ignore[no-untyped-def]
    refusal = OVERFLOWS[server]
    llama.script(say("One."), say("Two."), {"status": refusal["status"], "body": refusal["body"]},
                 {"content": "Summary: the user counted to two."}, say("Three."))
    for text in ("count", "go on"):  # (the history, through the plain client: litellm takes seconds to import)
        assert memos("send", text).code == 0
    assert memos("config", "set", "llm_client", "litellm").code == 0  # the turn that meets the refusal
    third = memos("send", "and again")
    assert third.code == 0, third.err
    assert third.out == "Three.\n" and "making room by summarising" in third.err


def test_the_summarise_threshold_counts_the_tool_schemas(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    llama.script(say("One."), say("Two."))
    for text in ("count", "go on"):
        assert memos("send", text).code == 0
    context = memos("context", "--json").json()
    tools = sum(p["tokens"] for p in context["parts"] if p["kind"] == "tools")
    rest = context["total_tokens"] - tools
    assert tools > 0
    # A window whose threshold the request passes only with its tool schemas counted.
    window = int((rest + tools / 2) / context["threshold"])
    assert memos("agents", "update", "ada", "--context-window", str(window)).code == 0
    llama.script({"content": "Summary: the user counted to two."}, say("Three."))
    third = memos("send", "and again", "--json")
    assert third.code == 0, third.err
    assert any(m["type"] == "summary" for m in third.json()["messages"])
    summary_request = llama.requests[-2]
    assert not summary_request.get("tools")  # summarised before the turn's request was sent


def test_summary_calls_count_in_usage_and_runs(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    refusal = OVERFLOWS["llama.cpp"]
    llama.script(say("One."), say("Two."), {"status": refusal["status"], "body": refusal["body"]},
                 {"content": "Summary: the user counted to two.", "prompt_tokens": 700, "completion_tokens": 30},
                 say("Three."))
    for text in ("count", "go on", "and again"):
        assert memos("send", text).code == 0
    runs = memos("runs", "list", "--json").json()
    steps = memos("runs", "show", runs[0]["id"], "--json").json()["step_list"]
    assert [s["stop_reason"] for s in steps].count("summary") == 1
    assert sum(s["prompt_tokens"] for s in steps) >= 800  # the summary's 700 and the reply's 100
    made = llama.request_count
    recorded = sum(r["steps"] for r in runs)
    assert recorded == made - 1  # every call the server answered (all but its refusal) is a recorded step


def test_a_made_up_tool_name_is_said_as_such(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    llama.script(call("fetch_weather", city="Rome"), say("I have no such tool."))
    sent = memos("send", "weather?", "--json")
    assert sent.code == 0
    result = next(m for m in sent.json()["messages"] if m["type"] == "tool_return")["result"]
    assert "there is no tool named 'fetch_weather'" in result and "tool rules" not in result


def test_a_local_server_is_not_charged_a_list_price_unless_configured(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "update", "ada", "--model", "openai/gpt-4o-mini").code == 0
    llama.script(say("Hi."), say("Hi again."))
    assert memos("send", "hi").code == 0
    runs = memos("runs", "list", "--json").json()
    assert runs[0]["cost_usd"] is None  # gpt-4o-mini's name, but not OpenAI's server
    assert memos("config", "set", "providers.openai.price", "1/2").code == 0
    assert memos("send", "hi").code == 0
    cost = memos("runs", "list", "--json").json()[0]["cost_usd"]
    assert cost == pytest.approx((100 * 1 + 20 * 2) / 1_000_000)
    assert memos("config", "set", "providers.openai.price", "cheap").code == 1


def test_models_lists_llamacpps_model_by_the_name_requests_use(memos, llama) -> None:  # type: ignore[no-untyped-def]
    listed = memos("models", "--json").json()
    openai = next(p for p in listed["providers"] if p["provider"] == "openai")
    assert openai["models"] == ["gemma"] and LlamaCppReplica.MODEL_PATH not in json.dumps(listed)


def test_max_tokens_through_the_cli_the_api_and_agent_files(memos, llama, gemma, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    import letta_client

    from tests.e2e.test_serve import running_server

    assert memos("agents", "show", "ada", "--json").json()["max_tokens"] == 256
    assert memos("agents", "update", "ada", "--max-tokens", "0").code == 0
    assert memos("agents", "show", "ada", "--json").json()["max_tokens"] is None
    assert memos("agents", "create", "bad", "--max-tokens", "0").code == 2
    with running_server() as url:
        api = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        made = api.agents.create(name="bea", model="openai/gemma", max_tokens=128)
        assert made.llm_config.max_tokens == 128
        changed = api.agents.update(made.id, llm_config={"model": "openai/gemma", "max_tokens": 64,
                                                         "model_endpoint_type": "openai", "context_window": 8192})
        assert changed.llm_config.max_tokens == 64
    exported = memos("agents", "export", "bea", "-o", str(memos_home / "bea.af"))
    assert exported.code == 0, exported.err
    assert json.loads((memos_home / "bea.af").read_text())["agents"][0]["llm_config"]["max_tokens"] == 64
    assert memos("agents", "import", str(memos_home / "bea.af"), "--name", "bea2").code == 0
    assert memos("agents", "show", "bea2", "--json").json()["max_tokens"] == 64
    llama.script(say("Short."))
    assert memos("send", "hi", "--agent", "bea2").code == 0
    assert llama.requests[-1]["max_tokens"] == 64


def _paused_reply(text: str) -> tuple[dict, threading.Event]:
    """A send_message reply that streams its first pieces, then waits for the test."""
    resume = threading.Event()
    # Chunks: the role, the call's head, then 16 characters of arguments each: after four,
    # '{"message": "Hello Ana, the weat' has been sent, and nothing of the rest.
    return {**say(text), "pause_after": 4, "resume": resume}, resume


def test_chat_shows_a_send_message_reply_as_it_arrives(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    reply, resume = _paused_reply("Hello Ana, the weather in Lisbon is sunny today and warm.")
    llama.script(reply)
    child = spawn_memos("chat")
    child.expect("you> ")
    child.sendline("weather?")
    child.expect("Hello Ana")  # on screen while the rest of the reply has not been written yet
    with pytest.raises(pexpect.TIMEOUT):
        child.expect("sunny", timeout=1)  # the model is still paused: nothing more can have come
    resume.set()
    child.expect("warm.")
    child.expect("you> ")
    end_chat(child)
    assert child.before.count("Hello Ana") == 0  # the whole reply was not printed a second time


def test_send_on_a_terminal_streams_a_send_message_reply(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    reply, resume = _paused_reply("Hello Ana, the weather in Lisbon is sunny today and warm.")
    llama.script(reply)
    child = spawn_memos("send", "weather?")
    child.expect("Hello Ana")
    resume.set()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert (child.before or "").count("Hello Ana") == 0 and "warm." in child.before


def test_a_server_window_smaller_than_the_agents_is_fitted_and_named(memos, llama, gemma) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "update", "ada", "--context-window", "32000").code == 0
    refusal = OVERFLOWS["llama.cpp"]  # "... exceeds the available context size (8192 tokens)"
    llama.script(say("One."), say("Two."), {"status": refusal["status"], "body": refusal["body"]},
                 {"content": "Summary: the user counted to two."}, {"status": refusal["status"], "body": refusal["body"]},
                 say("Three."))
    for text in ("count", "go on"):
        assert memos("send", text).code == 0
    third = memos("send", "and again")
    assert third.code == 0, third.err  # refused twice, answered on the third request
    assert third.out == "Three.\n"
    assert "the server's (8,192): `memos agents update --context-window 8192`" in third.err
