"""`memos --help` and `--version` stay fast: no heavy module may be imported on that path."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ["litellm", "torch", "sentence_transformers", "transformers", "textual", "fastapi", "uvicorn",
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
