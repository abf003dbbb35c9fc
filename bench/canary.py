"""Canaries: what routing adds to a tool call, and how many calls the monitor needs.

Part 1, overhead (target, issue 17: <= 2 ms added p50 per tool call with a canary active).
A real home in a temp dir (DuckDB), an agent whose tool `parse_price` is a canary in split mode
(share 0.2). Measured interleaved: the tool run without routing (the peer), the routed call,
routing alone (between the monitor's looks), the call's record written the way the step writes
it (one more INSERT in the step's open transaction), and the monitor's look (the store read of
the canaries and their recorded calls, the verdict), which a process takes at most once a
second. With 0 and with 1,000 calls already recorded (a canary with the defaults, share 0.2
and 50 calls, ends near 250; each measured round records one more). Then what having two
versions costs the sandbox: a call right after a call on the other version loads its code again.

Part 2, detection: a simulation with the monitor's own code (`memos.evolve.monitor.assess`),
calls arriving one by one, split at the share, the monitor looking before each: how many calls
until a 20% against 0% error rate is rolled back at the default margin (95% one-sided Wilson),
how often it is caught before the canary would be promoted (50 calls on the new version), and
how often a change no worse than the old is rolled back by chance.

Run: .venv/bin/python bench/canary.py [--calls 300] [--trials 400]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line  # noqa: E402

# The warm pool hands each call a fresh worker and starts the next one behind it: a pause before
# every timed call, the same for all, so no call waits for the worker the one before used up.
SETTLE = 0.05

TOOL = '''def parse_price(text: str) -> float:
    """Parse a price.

    Args:
        text: The price as written.
    """
    return float(text.replace("$", ""))
'''


def _canary_home() -> tuple[object, object, object]:
    """A home with agent ada whose parse_price is a split canary; returns (ws, agent, tools)."""
    from memos.core.agents import create_agent
    from memos.core.workspace import Workspace
    from memos.evolve import branches, canary
    from memos.tools.custom import AgentTools, sandbox_limits, tool_repo
    from memos.tools.sandbox import Sandbox

    ws = Workspace()
    ws.config.set("evolve.canary.share", "0.2")
    ws.config.set("evolve.canary.calls", "1000000")  # measured, never promoted half-way
    ws.config.set("evolve.canary.hours", "1000")
    agent = create_agent(ws, "ada", model="openai/fake-model")
    repo = tool_repo(ws, agent)
    (repo.path / "parse_price.py").write_text(TOOL)
    base = repo.commit_all("Add parse_price")
    tools = AgentTools(ws, agent, Sandbox(sandbox_limits(ws), warm=1))
    tools.load()
    tools.attach("parse_price")
    evolution = ws.store.create_evolution(agent.id, "evolve/bench", base, title="Accept commas")
    worktree = branches.start_worktree(repo, evolution.branch, base, evolution.id)
    (worktree.path / "parse_price.py").write_text(TOOL.replace('"$", "")', '"$", "").replace(",", "")'))
    head = worktree.commit_all("Accept commas", trailers={branches.EVOLUTION_TRAILER: evolution.id})
    branches.remove_worktree(repo, evolution.id)
    evolution = ws.store.update_evolution(evolution.id, head_commit=head, status="pending")
    assert canary.start(ws, evolution, decided_by="bench", why="bench") is not None
    return ws, agent, tools


def overhead(calls: int) -> None:
    from memos.store.base import CanaryCall
    from memos.tools.builtins import ToolContext

    ws, agent, tools = _canary_home()
    tool = tools.get("parse_price")  # type: ignore[attr-defined]
    evolution = ws.store.list_evolutions(agent.id, status="canary")[0]  # type: ignore[attr-defined]
    arguments = {"text": "$3"}
    med = statistics.median
    print("\n## Routing overhead per tool call (ms, p50; interleaved; canary split 0.2)\n")
    print("| recorded calls at start (+1 a round) | plain call (peer) | routed call | routing alone "
          "| record, in the step's transaction | the monitor's look (once a second) |")
    print("|---|---|---|---|---|---|")
    for recorded in (0, 1000):
        existing = len(ws.store.list_canary_calls(evolution.id))  # type: ignore[attr-defined]
        ws.store.record_canary_calls([CanaryCall(f"canary-fill-{recorded}-{i}", evolution.id, agent.id,  # type: ignore[attr-defined]
                                                 "parse_price", f"fill-{i}", "old", "ok", 5.0, 3)
                                      for i in range(recorded - existing)])
        plain, routed, routing, record, look = [], [], [], [], []
        for i in range(calls + 10):
            time.sleep(SETTLE)
            started = time.perf_counter()
            tools.run(tool, arguments)  # type: ignore[attr-defined]
            t_plain = time.perf_counter() - started

            ctx = ToolContext(ws.store, agent, call_id=f"bench-{recorded}-{i}")  # type: ignore[arg-type]
            time.sleep(SETTLE)
            started = time.perf_counter()
            tools.run_routed("parse_price", arguments, ctx)  # type: ignore[attr-defined]
            t_routed = time.perf_counter() - started

            started = time.perf_counter()
            tools.router.route("parse_price", f"probe-{recorded}-{i}", tool.commit)  # type: ignore[attr-defined]
            t_routing = time.perf_counter() - started

            with ws.store.transaction():  # type: ignore[attr-defined]
                ws.store.get_meta("bench")  # the step's transaction is open when its calls are recorded
                started = time.perf_counter()
                ws.store.record_canary_calls(ctx.canary_calls)  # type: ignore[attr-defined]
                t_record = time.perf_counter() - started

            tools.router.forget()  # type: ignore[attr-defined]
            started = time.perf_counter()
            tools.router.route("parse_price", f"look-{recorded}-{i}", tool.commit)  # type: ignore[attr-defined]
            t_look = time.perf_counter() - started
            if i >= 10:  # warm-up rounds dropped
                for bucket, value in ((plain, t_plain), (routed, t_routed), (routing, t_routing),
                                      (record, t_record), (look, t_look)):
                    bucket.append(value * 1000)
        print(f"| {recorded} | {med(plain):.2f} | {med(routed):.2f} | {med(routing):.3f} | {med(record):.2f} "
              f"| {med(look):.2f} |")

    # The price of two versions: the sandbox worker imports whichever code it is handed, so a call
    # on the other version than the one before it loads that code again.
    route, _ = tools.router.route("parse_price", "switch", tool.commit)  # type: ignore[attr-defined]
    assert route is not None, "the canary ended during the measurement"
    same, switched = [], []
    for _ in range(calls):
        for files, bucket in ((tool.files, None), (tool.files, same), (route.new_files, None),  # type: ignore[attr-defined,union-attr]
                              (tool.files, switched)):
            time.sleep(SETTLE)
            started = time.perf_counter()
            tools.sandbox.call(files, "parse_price", "parse_price", arguments)  # type: ignore[attr-defined]
            if bucket is not None:
                bucket.append((time.perf_counter() - started) * 1000)
    print(f"\nSandbox call on the same version as the call before: {med(same):.2f} ms p50; right after a call on "
          f"the other version: {med(switched):.2f} ms p50.")

    canaries = ws.store.list_evolutions(agent.id, status="canary")  # type: ignore[attr-defined]
    ws.store.update_evolution(canaries[0].id, status="rolled_back")  # type: ignore[attr-defined]
    idle = []
    for i in range(calls):
        tools.router.forget()  # type: ignore[attr-defined]
        started = time.perf_counter()
        tools.router.route("parse_price", f"idle-{i}", tool.commit)  # type: ignore[attr-defined]
        idle.append((time.perf_counter() - started) * 1000)
    print(f"No canary in flight: the monitor's look (once a second) costs {med(idle):.2f} ms p50.")
    tools.close()  # type: ignore[attr-defined]
    ws.close()  # type: ignore[attr-defined]


def simulate(share: float, new_rate: float, old_rate: float, trials: int, rng: random.Random) -> dict[str, float]:
    """Calls one by one; the monitor looks before each. Returns detection figures."""
    from memos.evolve.monitor import MonitorSettings, assess
    from memos.store.base import CanaryCall

    settings = MonitorSettings()  # the defaults: 50 calls, 95% one-sided
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = start + timedelta(minutes=1)
    rolled_at: list[int] = []
    promoted = 0
    for _ in range(trials):
        calls: list[CanaryCall] = []
        for n in range(1, 100_000):
            verdict = assess("split", calls, settings, start, now).verdict
            if verdict == "rollback":
                rolled_at.append(n - 1)
                break
            if verdict == "promote":
                promoted += 1
                break
            version = "new" if rng.random() < share else "old"
            failed = rng.random() < (new_rate if version == "new" else old_rate)
            calls.append(CanaryCall(str(n), "evo", "agent", "tool", str(n), version,  # type: ignore[arg-type]
                                    "error" if failed else "ok", 5.0, 3))
    caught = len(rolled_at) / trials
    ordered = sorted(rolled_at)
    return {"caught": caught, "median": statistics.median(ordered) if ordered else float("nan"),
            "p90": ordered[int(0.9 * (len(ordered) - 1))] if ordered else float("nan")}


def detection(trials: int) -> None:
    rng = random.Random(17)
    print(f"\n## Calls until the monitor rolls back ({trials} simulated canaries each; defaults: "
          "95% one-sided Wilson, promotion after 50 calls on the new version)\n")
    print("| share | new error rate | old error rate | rolled back before promotion | median calls (all versions) "
          "| p90 calls |")
    print("|---|---|---|---|---|---|")
    for share in (0.2, 0.5):
        for new_rate, old_rate in ((0.2, 0.0), (0.2, 0.05), (0.1, 0.0), (0.05, 0.05), (0.0, 0.0)):
            r = simulate(share, new_rate, old_rate, trials, rng)
            median = "-" if r["median"] != r["median"] else f"{r['median']:.0f}"
            p90 = "-" if r["p90"] != r["p90"] else f"{r['p90']:.0f}"
            print(f"| {share:.1f} | {new_rate:.0%} | {old_rate:.0%} | {r['caught']:.1%} | {median} | {p90} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--trials", type=int, default=400)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as home:
        os.environ["MEMOS_HOME"] = home
        overhead(args.calls)
    detection(args.trials)


if __name__ == "__main__":
    main()
