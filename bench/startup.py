"""Cold start of `memos --help` beside a bare Typer app with one command, in the same run.

Target: memos within 1.3x of the bare app. Run: .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import machine_line

RUNS = 30
BARE = '''
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(name)
app()
'''


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    memos = str(Path(sys.executable).parent / "memos")
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE)
        commands = {"bare typer --help": [sys.executable, str(bare), "--help"],
                    "memos --help": [memos, "--help"], "memos --version": [memos, "--version"]}
        for cmd in commands.values():  # warm the OS file cache: we measure imports, not the disk
            timed(cmd)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(RUNS):  # interleaved, so background noise hits all alike
            for name, cmd in commands.items():
                samples[name].append(timed(cmd))
    print(machine_line())
    base = statistics.median(samples["bare typer --help"])
    print(f"{'command':<20} {'p50 ms':>8} {'p95 ms':>8} {'vs bare':>8}")
    for name, values in samples.items():
        p50 = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"{name:<20} {p50 * 1000:8.1f} {p95 * 1000:8.1f} {p50 / base:8.2f}x")


if __name__ == "__main__":
    main()
