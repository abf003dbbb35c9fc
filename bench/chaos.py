"""Chaos among replicas at the issue's size (issue 30): three `memos serve` replicas on one
embedded PostgreSQL, four clients sending 300 turns (plain, custom-tool, MCP-tool,
background-streamed, cancelled), one replica killed with SIGKILL and restarted, one frozen with
SIGSTOP for 90 s (the default 20 s turn lease), an evolution accepted and promoted mid-run.
Every invariant of tests/chaos.py is checked; the suite runs a shorter one
(tests/e2e/test_replicas_chaos.py).
Run: .venv/bin/python bench/chaos.py [--turns 300] [--freeze 90]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine_line  # noqa: E402

from tests.chaos import Chaos, reply  # noqa: E402
from tests.fakellm import FakeLLM  # noqa: E402
from tests.postgres import new_database, start_server  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--freeze", type=float, default=90.0)
    parser.add_argument("--lease", type=float, default=20.0)
    args = parser.parse_args()
    llm = FakeLLM(responder=reply, keep_requests=False)
    os.environ.update({"OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-fake", "MEMOS_RETRY_BASE_SECONDS": "0.05"})
    with tempfile.TemporaryDirectory(prefix="memos-bench-chaos-") as tmp:
        server = start_server(Path(tmp) / "pg")
        chaos = Chaos(Path(tmp) / "run", new_database(server), turns=args.turns, clients=args.clients,
                      freeze_seconds=args.freeze, lease_seconds=args.lease, request_timeout=30)
        try:
            report = chaos.run()
        finally:
            chaos.stop()
            server.cleanup()
    kinds = collections.Counter(o.kind for o in report.outcomes)
    retried = sum(o.attempts > 1 for o in report.outcomes)
    print(machine_line())
    print(f"{len(report.outcomes)} turns in {report.seconds} s ({dict(kinds)}); {retried} retried on another replica; "
          f"{sum(o.cancelled for o in report.outcomes)} cancelled; kills {report.kills}, freezes {report.freezes}, "
          f"evolution {report.evolution}")
    print("problems:", report.problems or "none")
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
