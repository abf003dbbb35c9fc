"""Token counts and prices without litellm: the same numbers litellm gives, and no tokenizer
loaded when a prompt is plainly under its limit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memos.core import pricing, tokens

PROMPT = [{"role": "system", "content": "You are Ada. Ünïcödé and 記憶 count too."},
          {"role": "user", "content": "What did we decide about the budget on Tuesday?"},
          {"role": "assistant", "content": None, "tool_calls": [
              {"id": "c1", "type": "function", "function": {"name": "archival_memory_search",
                                                            "arguments": '{"query": "budget"}'}}]}]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "openai/gpt-4", "openai/fake-model", "groq/llama3-70b"])
def test_counts_match_litellm(model: str) -> None:
    from memos.lazy import import_litellm

    litellm = import_litellm()
    texts = [m["content"] for m in PROMPT if m["content"]] + ["def f(x):\n    return x ** 2  # code counts too"]
    for text in texts:
        assert tokens.text_tokens(model, text) == litellm.token_counter(model=model, text=text)


def test_the_upper_bound_is_never_below_the_count() -> None:
    for model in ("openai/gpt-4o-mini", "openai/fake-model"):
        assert tokens.upper_bound(PROMPT) >= tokens.count_tokens(model, PROMPT)


def test_a_short_prompt_is_judged_without_loading_a_tokenizer() -> None:
    probe = ("from memos.core import tokens; import sys\n"
             f"small = tokens.fits_within(10_000, 'openai/gpt-4o-mini', {PROMPT!r})\n"
             "before = 'tiktoken' in sys.modules\n"
             f"large = tokens.fits_within(10, 'openai/gpt-4o-mini', {PROMPT!r})\n"
             "print(small, before, large, 'tiktoken' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "False", "False", "True"]


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "gpt-4o-mini", "anthropic/claude-sonnet-4-5",
                                   "openai/fake-model", "ollama/llama3"])
def test_cost_matches_litellm(model: str) -> None:
    from memos.lazy import import_litellm

    litellm = import_litellm()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(model=model, prompt_tokens=1200, completion_tokens=345)
        expected: float | None = prompt_cost + completion_cost
    except Exception:
        expected = None
    got = pricing.cost_of(model, 1200, 345)
    assert got == pytest.approx(expected) if expected is not None else got is None
