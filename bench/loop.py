"""Agent-loop overhead per step, excluding the LLM, with a realistic store behind it.

10k messages (the oldest summarised out of context, as in steady state) and 100k
archival passages; the fake OpenAI-compatible server answers instantly through the
real litellm client. Per step: wall time of the turn minus the LLM call's own latency.
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
from corpus import embedded  # noqa: E402


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
        from memos.store.base import NewMessage, NewPassage

        ws = Workspace()
        agent = create_agent(ws, "bench", model="openai/fake-model")
        texts, vectors = embedded(args.passages + 1_000)
        with ws.store.transaction():
            for i in range(0, args.passages, 5_000):
                ws.store.insert_passages(agent.id, [NewPassage(t, v) for t, v in
                                                    zip(texts[i:i + 5000], vectors[i:i + 5000])])
            old = [NewMessage("user" if i % 2 == 0 else "assistant", texts[i % len(texts)], in_context=False)
                   for i in range(args.messages - 20)]
            ws.store.append_messages(agent.id, old)
            ws.store.append_messages(agent.id, [NewMessage("user", f"recent {i}") for i in range(20)])
        ws.store.rebuild_vector_index(agent.id)

        runner = AgentRunner(ws, agent)
        overheads, llm = [], []
        for turn in range(args.turns + 5):
            fake.script({"tool_calls": [{"name": "send_message", "arguments": {"message": f"ok {turn}"}}]})
            started = time.perf_counter()
            events = list(runner.send(f"message {turn}"))
            wall = (time.perf_counter() - started) * 1000
            usage = [e for e in events if e.type == "usage"]
            if turn >= 5:  # warm-up: litellm import, first connections
                overheads.append(wall - usage[0].latency_ms)
                llm.append(usage[0].latency_ms)
        fake.close()
        ws.close()
    print(machine_line())
    print(f"| store | steps | loop overhead p50 ms | p95 ms | fake LLM call p50 ms (HTTP + litellm) |")
    print("|---|---|---|---|---|")
    print(f"| {args.messages:,} messages, {args.passages:,} passages | {len(overheads)} | "
          f"{np.percentile(overheads, 50):.1f} | {np.percentile(overheads, 95):.1f} | {np.percentile(llm, 50):.1f} |")


if __name__ == "__main__":
    main()
