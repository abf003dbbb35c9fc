"""`memos --help` and `--version` stay fast: no heavy module may be imported on that path."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ["litellm", "torch", "sentence_transformers", "transformers", "textual", "fastapi", "uvicorn", "mcp",
         "duckdb", "numpy", "pyarrow", "usearch"]

PROBE = """
import sys
sys.argv = ["memos", *{args!r}]
from memos.cli.app import main
try:
    main()
except SystemExit:
    pass
loaded = sorted(name for name in {heavy!r} if name in sys.modules)
print("LOADED:" + ",".join(loaded), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["memory", "--help"], ["archival", "search", "--help"]])
def test_no_heavy_imports(args):
    proc = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                          capture_output=True, text=True, timeout=60)
    loaded = [line for line in proc.stderr.splitlines() if line.startswith("LOADED:")]
    assert loaded == ["LOADED:"], proc.stderr
    assert proc.stdout.strip()


def test_version_prints_version(memos):
    from memos import __version__

    result = memos("--version")
    assert result.code == 0 and result.out.strip() == f"memos {__version__}"


SEND_HEAVY = ["litellm", "torch", "sentence_transformers", "transformers", "textual", "fastapi", "uvicorn", "mcp"]


@pytest.mark.slow
def test_a_pipeline_send_that_searches_memory_loads_no_heavy_library(memos, chat_agent, fake_llm):
    """`memos send` to an OpenAI-compatible server, its turn searching archival memory: plain
    HTTP for the LLM and onnxruntime for the query's vector; litellm and torch stay out."""
    from tests.conftest import call, say

    assert memos("archival", "add", "--agent", chat_agent, "The user's dog is a border collie named Pixel.").code == 0
    fake_llm.script(call("archival_memory_search", query="what pet does the user have"), say("A collie, Pixel."))
    probe = PROBE.format(args=["send", "--agent", chat_agent, "what pet do I have?"], heavy=SEND_HEAVY)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "A collie, Pixel.", proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("LOADED:")] == ["LOADED:"], proc.stderr
    tool_result = fake_llm.requests[1]["messages"][-1]["content"]
    assert "border collie named Pixel" in tool_result
