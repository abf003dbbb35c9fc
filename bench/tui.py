"""`memos tui` start-up: time to the first drawn screen, and memory use, on a big store.

10k messages and 100k passages; `memos tui` runs in a real terminal (tmux, 100x30)
and the clock stops when the screen shows the tabs and the footer. Memory is the
process's resident set once drawn. Every pane pages its data (no full-table loads).
Target (issue 7): under 1 s.
Run: .venv/bin/python bench/tui.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line  # noqa: E402
from corpus import fill  # noqa: E402

MEMOS = Path(sys.executable).parent / "memos"


def first_draw(home: str) -> tuple[float, float]:
    """Seconds from launch to a drawn screen, and resident memory (MiB) then."""
    socket = f"memos-bench-{os.getpid()}-{time.monotonic_ns()}"  # a fresh tmux server per run
    tmux = ["tmux", "-L", socket]
    env = {**os.environ, "MEMOS_HOME": home, "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    started = time.perf_counter()
    started_tmux = subprocess.run([*tmux, "new-session", "-d", "-s", "b", "-x", "100", "-y", "30", f"exec {MEMOS} tui"],
                                  env=env, capture_output=True, text=True)
    if started_tmux.returncode:
        raise SystemExit(f"tmux could not start: {started_tmux.stderr.strip()}")
    try:
        while True:
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True).stdout
            if "Conversation" in screen and "Quit" in screen and "messages" in screen:
                break
            if time.perf_counter() - started > 60:
                raise SystemExit(f"memos tui did not draw:\n{screen}")
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        pid = subprocess.run([*tmux, "list-panes", "-t", "b", "-F", "#{pane_pid}"], capture_output=True,
                             text=True).stdout.strip()
        rss_kib = int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])
        return elapsed, rss_kib / 1024
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["MEMOS_HOME"] = home
        from memos.core.agents import create_agent
        from memos.core.workspace import Workspace

        ws = Workspace()
        agent = create_agent(ws, "bench")
        fill(ws, agent.id, passages=args.passages, messages=args.messages)
        ws.close()
        first_draw(home)  # warm the page cache once
        times, memory = zip(*(first_draw(home) for _ in range(args.runs)))
    print(machine_line())
    print("| store | runs | first screen p50 s | max s | resident memory MiB |")
    print("|---|---|---|---|---|")
    print(f"| {args.messages:,} messages, {args.passages:,} passages | {args.runs} | {np.median(times):.2f} | "
          f"{max(times):.2f} | {np.median(memory):.0f} |")


if __name__ == "__main__":
    main()
