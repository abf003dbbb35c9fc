"""`memos serve` under load: agent listing throughput and message round trips.

A real `memos serve` process on a temp home; the fake OpenAI-compatible LLM
answers every message instantly (through the real LLM client: plain httpx). A local
async load generator (httpx) keeps N clients busy at once.
Target (issue 8): no errors at 50 concurrent clients.
Run: .venv/bin/python bench/serve.py [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakellm

from common import machine_line  # noqa: E402


async def hammer(url: str, clients: int, total: int, request) -> tuple[list[float], int, float]:  # type: ignore[no-untyped-def]
    """``total`` requests spread over ``clients`` concurrent clients: latencies (ms), errors, wall (s)."""
    latencies: list[float] = []
    errors = 0
    remaining = iter(range(total))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(worker: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
            for number in remaining:
                started = time.perf_counter()
                try:
                    response = await request(http, worker, number)
                    if response.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--list-requests", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()

    from tests.conftest import say
    from tests.fakellm import FakeLLM

    fake = FakeLLM(default=say("ok"))
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MEMOS_HOME": home, "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "sk-fake"}
        server = subprocess.Popen([str(Path(sys.executable).parent / "memos"), "serve", "--port", "0"],
                                  env=env, stderr=subprocess.PIPE, text=True)
        try:
            url = "http://127.0.0.1:" + re.search(r":(\d+) ", server.stderr.readline()).group(1)  # type: ignore[union-attr]
            agent_ids = []
            with httpx.Client(base_url=url, timeout=60) as http:
                for i in range(args.clients):
                    created = http.post("/v1/agents/", json={"name": f"bench-{i}", "model": "openai/fake-model"})
                    created.raise_for_status()
                    agent_ids.append(created.json()["id"])
                # Warm-up: the LLM client's import and the first turn of an agent happen once per process.
                http.post(f"/v1/agents/{agent_ids[0]}/messages", json={"input": "warm up"}).raise_for_status()

            async def list_agents(http: httpx.AsyncClient, worker: int, number: int) -> httpx.Response:
                return await http.get("/v1/agents/", params={"limit": 50})

            async def send(http: httpx.AsyncClient, worker: int, number: int) -> httpx.Response:
                return await http.post(f"/v1/agents/{agent_ids[worker]}/messages", json={"input": f"message {number}"})

            rows = []
            for label, request, total, clients in (
                    ("GET /v1/agents/ (50 agents)", list_agents, args.list_requests, args.clients),
                    ("POST messages, 1 client", send, min(100, args.messages), 1),
                    (f"POST messages, {args.clients} clients (one agent each)", send, args.messages, args.clients)):
                latencies, errors, wall = asyncio.run(hammer(url, clients, total, request))
                rows.append((label, total, clients, total / wall, np.percentile(latencies, 50),
                             np.percentile(latencies, 95), errors))
        finally:
            server.terminate()
            server.wait(timeout=30)
            fake.close()
    print(machine_line())
    print("| requests | count | concurrent clients | req/s | p50 ms | p95 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    for label, total, clients, rps, p50, p95, errors in rows:
        print(f"| {label} | {total} | {clients} | {rps:.0f} | {p50:.1f} | {p95:.1f} | {errors} |")


if __name__ == "__main__":
    main()
