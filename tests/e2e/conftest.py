"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import agent_dir, say
from tests.e2e.evolving import BUGGY, TEST


@pytest.fixture
def priced_agent(memos, fake_llm, memos_home: Path) -> Path:  # type: ignore[no-untyped-def]
    """Agent ada with a buggy parse_price tool, and two recorded calls: one failing, one fine."""
    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    repo = agent_dir(memos_home, "ada") / "tools"
    (repo / "parse_price.py").write_text(BUGGY)
    (repo / "tests" / "test_parse_price.py").write_text(TEST)
    committed = memos("tools", "commit", "-m", "Add parse_price", "--agent", "ada")
    assert committed.code == 0, committed.err
    fake_llm.script({"tool_calls": [{"name": "parse_price", "arguments": {"text": "$1,200.50"}},
                                    {"name": "parse_price", "arguments": {"text": "$3"}}]}, say("Hmm."))
    sent = memos("send", "--agent", "ada", "how much are $1,200.50 and $3?")
    assert sent.code == 0, sent.err
    return repo
