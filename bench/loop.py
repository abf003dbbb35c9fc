"""Agent-loop overhead per step, excluding the LLM, with a realistic store behind it.

10k messages (the oldest summarised out of context, as in steady state) and 100k
archival passages; the fake OpenAI-compatible server answers instantly through the
real LLM client (plain httpx for this OpenAI-compatible server). Per step: wall time of the turn minus the LLM call's own latency.
Target (issue 4): p50 <= 20 ms.
Run: .venv/bin/python bench/loop.py [--turns 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakellm

from common import machine_line  # noqa: E402
from corpus import fill  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()

    from tests.fakellm import FakeLLM

    fake = FakeLLM()
    os.environ.update(OPENAI_BASE_URL=fake.url, OPENAI_API_KEY="sk-fake")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MEMOS_HOME"] = tmp
        from memos.core.agent import AgentRunner
        from memos.core.agents import create_agent
        from memos.core.workspace import Workspace

        ws = Workspace()
        agent = create_agent(ws, "bench", model="openai/fake-model")
        fill(ws, agent.id, passages=args.passages, messages=args.messages)

        runner = AgentRunner(ws, agent)
        overheads, llm = [], []
        for turn in range(args.turns + 5):
            fake.script({"tool_calls": [{"name": "send_message", "arguments": {"message": f"ok {turn}"}}]})
            started = time.perf_counter()
            events = list(runner.send(f"message {turn}"))
            wall = (time.perf_counter() - started) * 1000
            usage = [e for e in events if e.type == "usage"]
            if turn >= 5:  # warm-up: client imports, first connections
                overheads.append(wall - usage[0].latency_ms)
                llm.append(usage[0].latency_ms)
        fake.close()
        ws.close()
    print(machine_line())
    print("| store | steps | loop overhead p50 ms | p95 ms | fake LLM call p50 ms (HTTP + client) |")
    print("|---|---|---|---|---|")
    print(f"| {args.messages:,} messages, {args.passages:,} passages | {len(overheads)} | "
          f"{np.percentile(overheads, 50):.1f} | {np.percentile(overheads, 95):.1f} | {np.percentile(llm, 50):.1f} |")


if __name__ == "__main__":
    main()
