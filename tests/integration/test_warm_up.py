"""What a long-lived process (`memos serve`) loads before anyone asks: only what its agents use,
and never torch (on 6c4d22d a fresh home's server exported the ONNX copy through torch in its
own process and idled at 802 MiB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
from memos.core.workspace import Workspace
from memos.core.warm import warm_up
from memos.store.embeddings import LocalMiniLM
ws = Workspace()
if sys.argv[1] == "agent":
    from memos.core.agents import create_agent
    create_agent(ws, "ada", model="openai/fake-model")
warm_up(ws)
print(json.dumps({"embedder": LocalMiniLM.backend(), "torch": "torch" in sys.modules,
                  "transformers": "transformers" in sys.modules}))
"""


def _probe(kind: str, home: Path, cache: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, kind], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MEMOS_HOME": str(home), "MEMOS_MODEL_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_home_without_agents_loads_no_model(tmp_path: Path) -> None:
    assert _probe("none", tmp_path / "home", tmp_path / "cache") == \
        {"embedder": "not loaded", "torch": False, "transformers": False}


@pytest.mark.slow
def test_the_first_load_in_a_fresh_cache_keeps_torch_out_of_the_process(tmp_path: Path) -> None:
    seen = _probe("agent", tmp_path / "home", tmp_path / "cache")  # the ONNX copy is written without torch
    assert seen == {"embedder": "onnxruntime", "torch": False, "transformers": False}
    assert list((tmp_path / "cache").glob("*.onnx"))
