"""Both LLM clients against the scripted OpenAI-compatible server over real HTTP: plain httpx
(the default for OpenAI-compatible providers) and litellm (``llm_client = litellm``). Each must
give the same Completion for the same answer, and fail the same way for the same refusal."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from memos.core.completion import ContextTooLong
from memos.core.config import Config
from memos.core.llm import LLM, resolve
from memos.errors import ProviderError

MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hello"}]
TOOLS = [{"type": "function", "function": {"name": "send_message", "description": "Reply.",
                                           "parameters": {"type": "object", "properties": {
                                               "message": {"type": "string"}}, "required": ["message"]}}}]
CLIENTS = ["auto", "litellm"]


@pytest.fixture(params=CLIENTS)
def llm(request: pytest.FixtureRequest, fake_llm, memos_home: Path) -> LLM:  # type: ignore[no-untyped-def]
    config = Config(memos_home / "config.toml")
    config.set("llm_client", request.param)
    return LLM(config)


def test_the_default_route_of_an_openai_compatible_server_is_plain_http(fake_llm, memos_home: Path) -> None:
    config = Config(memos_home / "config.toml")
    route = resolve(config, "openai/fake-model")
    assert route.base_url == fake_llm.url and route.wire_model == "fake-model" and route.api_key == "sk-fake"
    config.set("llm_client", "litellm")
    assert resolve(config, "openai/fake-model").base_url is None
    assert resolve(Config(memos_home / "other.toml"), "ollama/llama3").base_url == "http://localhost:11434/v1"


@pytest.mark.parametrize("stream", [True, False])
def test_text_usage_and_cost(llm: LLM, fake_llm, stream: bool) -> None:
    fake_llm.script({"content": "Hello there, how can I help?", "prompt_tokens": 42, "completion_tokens": 7})
    shown: list[str] = []
    result = llm.complete("openai/fake-model", MESSAGES, stream=stream, on_text=shown.append)
    assert result.content == "Hello there, how can I help?" and result.finish_reason == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (42, 7)
    assert result.cost_usd is None  # a custom server's model is in no price list
    assert "".join(shown) == (result.content if stream else "")
    assert fake_llm.requests[0]["model"] == "fake-model" and fake_llm.requests[0]["messages"] == MESSAGES
    assert fake_llm.authorizations == ["Bearer sk-fake"]


@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_come_back_whole(llm: LLM, fake_llm, stream: bool) -> None:
    fake_llm.script({"tool_calls": [{"name": "send_message", "arguments": {"message": "a fairly long reply"}},
                                    {"name": "core_memory_append", "arguments": "{not json"}]})
    result = llm.complete("openai/fake-model", MESSAGES, TOOLS, stream=stream)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("send_message", '{"message": "a fairly long reply"}'), ("core_memory_append", "{not json")]
    assert all(c.id for c in result.tool_calls) and result.finish_reason == "tool_calls"
    assert fake_llm.requests[0]["tools"] == TOOLS


def test_rate_limits_and_server_errors_are_retried(llm: LLM, fake_llm) -> None:
    fake_llm.script({"status": 429, "retry_after": 0}, {"status": 503}, {"content": "third time lucky"})
    assert llm.complete("openai/fake-model", MESSAGES).content == "third time lucky"
    assert fake_llm.request_count == 3


def test_retries_give_up_with_one_clear_line(llm: LLM, fake_llm) -> None:
    fake_llm.script(*[{"status": 500, "message": "upstream exploded"}] * 4)
    with pytest.raises(ProviderError, match="kept failing after 4 tries") as caught:
        llm.complete("openai/fake-model", MESSAGES)
    assert "upstream exploded" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(("reply", "error", "says"), [
    ({"status": 401}, ProviderError, "refused the API key"),
    ({"status": 404}, ProviderError, "does not know the model"),
    ({"status": 400, "message": "This model's maximum context length is 10 tokens."}, ContextTooLong, "too long"),
    ({"status": 400, "message": "messages[1].role is wrong"}, ProviderError, "messages[1].role is wrong"),
])
def test_refusals_are_final(llm: LLM, fake_llm, reply: dict, error: type, says: str) -> None:
    fake_llm.script(reply)
    with pytest.raises(error) as caught:
        llm.complete("openai/fake-model", MESSAGES)
    assert says in str(caught.value)
    assert fake_llm.request_count == 1  # never retried


def test_a_stream_cut_off_before_any_text_is_retried(fake_llm, memos_home: Path) -> None:
    llm = LLM(Config(memos_home / "config.toml"))
    fake_llm.script({"content": "never seen", "break_after": 0}, {"content": "whole"})
    assert llm.complete("openai/fake-model", MESSAGES).content == "whole"


def test_a_stream_cut_off_mid_answer_fails_instead_of_showing_it_twice(fake_llm, memos_home: Path) -> None:
    llm = LLM(Config(memos_home / "config.toml"))
    fake_llm.script({"content": "the first words and then nothing", "break_after": 2}, {"content": "unused"})
    shown: list[str] = []
    with pytest.raises(ProviderError, match="broke off"):
        llm.complete("openai/fake-model", MESSAGES, on_text=shown.append)
    assert "".join(shown) == "the first words " and fake_llm.request_count == 1


def test_cancel_keeps_what_came(fake_llm, memos_home: Path) -> None:
    llm = LLM(Config(memos_home / "config.toml"))
    fake_llm.script({"content": "one two three four five six seven eight", "chunk_delay": 0.05})
    cancel = threading.Event()

    def stop_after_first(text: str) -> None:
        cancel.set()

    result = llm.complete("openai/fake-model", MESSAGES, on_text=stop_after_first, cancel=cancel)
    assert result.cancelled and result.finish_reason == "cancelled"
    assert result.content and "eight" not in result.content


def test_an_unreachable_server_is_retried_then_named(fake_llm, memos_home: Path) -> None:
    fake_llm.close()  # nothing listens there now
    llm = LLM(Config(memos_home / "config.toml"))
    with pytest.raises(ProviderError, match="kept failing after 4 tries: ConnectError"):
        llm.complete("openai/fake-model", MESSAGES)
