"""Sandbox call overhead for a trivial tool, beside a bare `python -c pass` in the same run.

Three ways measured: a cold call (start a worker, lock it down, run, tear down),
a call through the warm pool (what chat, the server and the loop use), and the
peer, a bare interpreter start. Target (issue 5): warm p50 <= 50 ms.
Run: .venv/bin/python bench/sandbox.py [--calls 100]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line, timed  # noqa: E402

from memos.tools.sandbox import Sandbox  # noqa: E402

TOOL = {"echo.py": 'def echo(text: str) -> str:\n    """Echo.\n\n    Args:\n        text: What to echo.\n    """\n'
                   "    return text\n"}



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    args = parser.parse_args()

    def bare() -> None:
        subprocess.run([sys.executable, "-c", "pass"], check=True)

    cold_box = Sandbox()
    warm_box = Sandbox(warm=2)

    def cold() -> None:
        assert cold_box.call(TOOL, "echo", "echo", {"text": "hi"}).value == "hi"

    def warm() -> None:
        assert warm_box.call(TOOL, "echo", "echo", {"text": "hi"}).value == "hi"

    for fn in (bare, cold, warm):
        timed(fn, 5)  # warm-up
    results = {"bare `python -c pass` (peer)": timed(bare, args.calls),
               "sandbox call, cold worker": timed(cold, args.calls)}
    warm_times = []
    for _ in range(args.calls):
        time.sleep(0.1)  # think time between calls, as between agent steps: the pool refills meanwhile
        warm_times += timed(warm, 1)
    results["sandbox call, warm pool"] = warm_times
    warm_box.close()
    layers = cold_box.info()["layers"]
    print(machine_line())
    print(f"# layers: {', '.join(k for k, v in layers.items() if v is True)}; landlock ABI {layers.get('landlock_abi')}")
    print("| what | calls | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for name, times in results.items():
        print(f"| {name} | {len(times)} | {np.percentile(times, 50):.1f} | {np.percentile(times, 95):.1f} |")


if __name__ == "__main__":
    main()
