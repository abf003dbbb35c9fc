"""The soak (tests/soak.py) at full size: 10,000 turns to one agent from 4 long-lived pipelines,
a shell pipeline of `memos send` processes and a `memos serve` client, a sleep pass every
1,000 turns and SIGKILL of a random one of those processes every ~200 turns; then `memos
doctor` and the invariants. Reports step overhead (p50/p95 of the last 200 turns at 1k and
10k turns: it must not grow with history) and the pipelines' peak RSS.
Run: .venv/bin/python bench/soak.py [--turns 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-every", type=int, default=200)
    parser.add_argument("--sleep-every", type=int, default=1_000)
    args = parser.parse_args()

    from tests.soak import Soak

    checkpoints = tuple(sorted({min(1_000, args.turns), args.turns}))
    with tempfile.TemporaryDirectory() as tmp:
        report = Soak(Path(tmp) / "home", turns=args.turns, workers=args.workers, kill_every=args.kill_every,
                      sleep_every=args.sleep_every, checkpoints=checkpoints).run()
    print(machine_line())
    print(f"turns {report.turns} in {report.seconds:.0f} s, kills {report.kills}, sleep passes {report.sleep_passes}")
    for turns, (p50, p95) in sorted(report.overhead_ms.items()):
        print(f"step overhead at {turns} turns: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    if len(report.overhead_ms) == 2:
        (_, (first, _)), (_, (last, _)) = sorted(report.overhead_ms.items())
        print(f"growth of p50: {last / first:.2f}x (target <= 1.5x)")
    print(f"peak RSS of a pipeline: {report.peak_rss_mib:.0f} MiB")
    print("problems:", report.problems or "none")
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
