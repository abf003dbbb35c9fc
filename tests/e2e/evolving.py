"""What the evolution tests share: a tool with a bug, its fix, proposals as the scripted LLM
makes them, and small readers of git and `memos evolve`."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

BUGGY = '''def parse_price(text: str) -> float:
    """Parse a price such as "$3" or "$1,200.50".

    Args:
        text: The price as written.
    """
    return float(text.replace("$", ""))
'''
FIXED = BUGGY.replace('text.replace("$", "")', 'text.replace("$", "").replace(",", "")')
ROUNDED = BUGGY.replace('return float(text.replace("$", ""))', 'return round(float(text.replace("$", "").replace(",", "")))')
TEST = '''from parse_price import parse_price


def test_plain_price() -> None:
    assert parse_price("$3") == 3.0
'''
TEST_WITH_COMMAS = TEST + '''

def test_thousands() -> None:
    assert parse_price("$1,200.50") == 1200.5
'''
BROKEN_TEST = TEST + '''

def test_thousands() -> None:
    assert parse_price("$1,200.50") == 12
'''


def propose(title: str, files: dict[str, str]) -> dict[str, Any]:
    return {"tool_calls": [{"name": "propose_change", "arguments": {
        "title": title, "rationale": "parse_price failed on '$1,200.50' (a thousands separator).",
        "files": files}}]}


CONSOLIDATE = {"tool_calls": [
    {"name": "memory_rethink", "arguments": {"label": "human", "new_memory": "Name: Sam. Buys things priced in dollars."}},
    {"name": "memory_finish_edits", "arguments": {}}]}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def evolutions(memos) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    listed = memos("evolve", "list", "--json")
    assert listed.code == 0, listed.err
    return listed.json()


