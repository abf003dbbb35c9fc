"""What sharing tool code among replicas costs (issue 30), side by side in one run with the commit
before it (--baseline, run from a git worktree of that commit on a database of its own).

On one embedded PostgreSQL, each version's `memos serve` (a replica with its own home) answers:
- tool turns: a message whose reply calls a custom tool (two LLM calls, one sandboxed call);
- plain turns: one LLM call (what the turn lease's fence and heartbeat add per step);
- (this version) the first tool turn on a replica that has never seen the agent (a new home, its
  process warmed by a turn of another agent): it fetches the agent's tool code from the store first.
The LLM is the scripted server (answers at once), so the figures are memos's own time.
Targets: tool turn <= 1.2x the baseline's; first turn on a new replica < 1 s plus the LLM;
the lease adds < 2 ms per step.
Run: .venv/bin/python bench/replicas.py [--turns 60] [--baseline 370fb58]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine_line  # noqa: E402

from tests.conftest import MEMOS_BIN  # noqa: E402, F401 - the venv's memos (every replica runs it)
from tests.e2e.replicas import Replica, start_replica  # noqa: E402
from tests.fakellm import FakeLLM  # noqa: E402
from tests.postgres import new_database, start_server  # noqa: E402


def reply(request: dict[str, Any]) -> dict[str, Any]:
    messages = request.get("messages", [])
    users = [m for m in messages if m.get("role") == "user"]
    wants_tool = bool(users) and "tool" in str(users[-1].get("content"))
    if wants_tool and messages[-1].get("role") != "tool":
        return {"tool_calls": [{"name": "shout", "arguments": {"text": "hey"}}]}
    return {"tool_calls": [{"name": "send_message", "arguments": {"message": "done"}}]}


def baseline_tree(commit: str) -> Path:
    """A worktree of ``commit`` under bench/.cache (made once)."""
    tree = ROOT / "bench" / ".cache" / f"baseline-{commit[:10]}"
    if not (tree / "memos").exists():
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)
    return tree


def turn(replica: Replica, http: httpx.Client, agent_id: str, text: str) -> float:
    started = time.perf_counter()
    response = http.post(f"{replica.url}/v1/agents/{agent_id}/messages",
                         json={"messages": [{"role": "user", "content": text}]})
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def first_turns(server: Any, url: str, env: dict[str, str], root: Path, http: httpx.Client,
                agent_id: str, other_id: str, count: int = 5) -> list[float]:
    """The first tool turn of an agent on replicas that have never seen it (a new home each, the
    process warmed by a turn of another agent first)."""
    times = []
    for i in range(count):
        fresh = start_replica(f"n{i}", root / f"fresh-{i}", env)
        try:
            turn(fresh, http, other_id, "tool please")
            times.append(turn(fresh, http, agent_id, "tool please"))
        finally:
            fresh.proc.terminate()
            fresh.proc.wait(15)
    return times


def lease_cost(url: str, agent_id: str, repeat: int = 200) -> dict[str, float]:
    """The turn lease's own cost, in this process: taking and giving back the turn (the lease row
    written twice beside the advisory lock), and one fenced write transaction's check."""
    from memos.store.postgres.store import PostgresStore

    store = PostgresStore(url)
    try:
        lock_ms, plain_ms, fenced_ms = [], [], []
        for i in range(repeat):
            lock = store.turn_lock(agent_id)
            started = time.perf_counter()
            assert lock.try_acquire()
            taken = time.perf_counter()
            with store.transaction():  # a write of the turn, as a step's
                store.set_meta("bench.lease", str(i))
            written = time.perf_counter()
            with store.transaction():  # the same write, fenced
                lock.fence()
                store.set_meta("bench.lease", str(i))
            fenced = time.perf_counter()
            lock.release()
            done = time.perf_counter()
            lock_ms.append((taken - started + done - fenced) * 1000)
            plain_ms.append((written - taken) * 1000)
            fenced_ms.append((fenced - written) * 1000)
        return {"take_and_release_p50_ms": round(statistics.median(lock_ms), 2),
                "fence_p50_ms": round(statistics.median(fenced_ms) - statistics.median(plain_ms), 2)}
    finally:
        store.close()


def compare(trees: dict[str, Path], server: Any, root: Path, turns: int) -> dict[str, Any]:
    """Both versions serving at once, their turns interleaved, so the machine's mood is shared."""
    replicas: dict[str, Replica] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        for name, tree in trees.items():
            envs[name] = {"MEMOS_DATABASE_URL": new_database(server), "PYTHONPATH": str(tree)}
            replicas[name] = start_replica(name[0], root / f"{name}-home", envs[name])
        with httpx.Client(timeout=120) as http:
            agents = {name: str(r.agent_with_shout()["id"]) for name, r in replicas.items()}
            tool: dict[str, list[float]] = {name: [] for name in trees}
            plain: dict[str, list[float]] = {name: [] for name in trees}
            for i in range(5 + turns):  # 5 to warm: sandbox workers, connections, caches
                for name, replica in replicas.items():
                    took_tool = turn(replica, http, agents[name], "tool please")
                    took_plain = turn(replica, http, agents[name], "hello")
                    if i >= 5:
                        tool[name].append(took_tool)
                        plain[name].append(took_plain)
            other = str(replicas["current"].agent_with_shout("bob")["id"])
            first = first_turns(server, envs["current"]["MEMOS_DATABASE_URL"], envs["current"], root, http,
                                agents["current"], other)
            lease = lease_cost(envs["current"]["MEMOS_DATABASE_URL"], other)
    finally:
        for replica in replicas.values():
            replica.proc.terminate()
            replica.proc.wait(15)
    return {name: {"tool_turn_p50_ms": round(statistics.median(tool[name]), 1),
                   "tool_turn_mean_ms": round(statistics.mean(tool[name]), 1),
                   "plain_turn_p50_ms": round(statistics.median(plain[name]), 1),
                   **({"first_turn_new_replica_ms": [round(x) for x in first], "lease": lease}
                      if name == "current" else {})}
            for name in trees}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--baseline", default="370fb58", help="the commit before replicas shared tool code")
    args = parser.parse_args()
    llm = FakeLLM(responder=reply, keep_requests=False)
    import os

    os.environ.update({"OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-fake"})
    with tempfile.TemporaryDirectory(prefix="memos-bench-replicas-") as tmp:
        root = Path(tmp)
        server = start_server(root / "pg")
        try:
            results = compare({"baseline": baseline_tree(args.baseline), "current": ROOT}, server, root, args.turns)
        finally:
            server.cleanup()
    base, now = results["baseline"], results["current"]
    ratio = now["tool_turn_p50_ms"] / base["tool_turn_p50_ms"]
    per_step = (now["plain_turn_p50_ms"] - base["plain_turn_p50_ms"])
    print(machine_line())
    print(f"tool turn p50: {now['tool_turn_p50_ms']} ms vs {base['tool_turn_p50_ms']} ms before ({ratio:.2f}x; target <= 1.2x)")
    print(f"plain turn (one step) p50: {now['plain_turn_p50_ms']} ms vs {base['plain_turn_p50_ms']} ms "
          f"(+{per_step:.1f} ms a step; target < 2 ms)")
    print(f"first tool turn on a replica that never saw the agent: {now['first_turn_new_replica_ms']} ms "
          "(scripted LLM: ~0; target < 1000 ms)")
    print(f"turn lease alone: take and release {now['lease']['take_and_release_p50_ms']} ms a turn, "
          f"the fence {now['lease']['fence_p50_ms']} ms a write transaction (target < 2 ms a step)")
    out = ROOT / "bench" / "results" / "replicas.json"
    out.write_text(json.dumps({"machine": machine_line(), "baseline": args.baseline, **results,
                               "tool_turn_ratio": round(ratio, 3), "per_step_ms": round(per_step, 2)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
