"""`memos usage --since 30d` on a home with 100k steps (target, issue 18: under 200 ms).

A DuckDB home with 3 agents, 20k runs of 5 steps each (100k steps) spread over 90 days, a
tool call in every other step, some steps without a known price, and a tenth of the runs
from sleep passes. Measured two ways, interleaved: the query in a warm process (the report
`memos usage` prints, through memos.core.observe) and the whole `memos usage --since 30d
--json` command as a user runs it (a new process: start-up, opening the database, the query,
the JSON). Then `memos runs list` and `memos runs show --last` the same way.
Run: .venv/bin/python bench/usage.py [--steps 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line, timed  # noqa: E402

MEMOS = str(Path(sys.executable).parent / "memos")
MODELS = ("openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-20241022", "ollama/llama3.1")


def fill(steps: int) -> None:
    """Runs, steps and tool calls written straight into the tables (the loop would take hours)."""
    from memos.core.agents import create_agent
    from memos.core.workspace import Workspace

    ws = Workspace()
    agents = [create_agent(ws, name, model=MODELS[i]).id for i, name in enumerate(("ada", "bob", "cyd"))]
    rng = random.Random(18)
    now = datetime.now(UTC).replace(tzinfo=None)
    runs: dict[str, list] = {k: [] for k in ("id", "agent_id", "status", "stop_reason", "created_at", "completed_at",
                                             "actor")}
    step_rows: dict[str, list] = {k: [] for k in ("id", "run_id", "agent_id", "model", "prompt_tokens",
                                                  "completion_tokens", "cost_usd", "latency_ms", "stop_reason",
                                                  "created_at", "cached_tokens", "duration_ms")}
    calls: dict[str, list] = {k: [] for k in ("id", "agent_id", "tool_call_id", "name", "arguments", "result",
                                              "status", "duration_ms", "step_id", "tool_commit", "created_at")}
    for r in range(steps // 5):
        agent = rng.randrange(3)
        started = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        run_id = f"run-{uuid.uuid4()}"
        for key, value in zip(runs, (run_id, agents[agent], "completed", "end_turn", started,
                                     started + timedelta(seconds=5), "sleep" if r % 10 == 0 else "agent")):
            runs[key].append(value)
        for s in range(5):
            step_id = f"step-{uuid.uuid4()}"
            prompt, completion = rng.randint(800, 9000), rng.randint(10, 400)
            priced = agent != 2  # ollama: no price
            for key, value in zip(step_rows, (step_id, run_id, agents[agent], MODELS[agent], prompt, completion,
                                              (prompt * 1.5e-7 + completion * 6e-7) if priced else None,
                                              rng.uniform(300, 3000), "tool_calls", started + timedelta(seconds=s),
                                              rng.choice((0, 0, prompt // 2)), rng.uniform(320, 3100))):
                step_rows[key].append(value)
            if s % 2 == 0:
                for key, value in zip(calls, (f"toolcall-{uuid.uuid4()}", agents[agent], f"call-{r}-{s}",
                                              "archival_memory_search", '{"query": "x"}', "[]",
                                              "error" if rng.random() < 0.02 else "success", rng.uniform(2, 40),
                                              step_id, None, started + timedelta(seconds=s))):
                    calls[key].append(value)
    from memos.store.duckdb.bulk_insert import insert_rows

    with ws.store._db.session(write=True) as con:  # one transaction, straight to DuckDB
        for table, columns in (("runs", runs), ("steps", step_rows), ("tool_calls", calls)):
            insert_rows(con, table, list(columns), list(zip(*columns.values())))
    ws.close()



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as home:
        os.environ["MEMOS_HOME"] = home
        started = time.perf_counter()
        fill(args.steps)
        print(f"filled {args.steps:,} steps in {time.perf_counter() - started:.1f} s")

        from memos.core.observe import run_detail, usage_report
        from memos.core.timeparse import parse_when
        from memos.core.workspace import Workspace

        ws = Workspace()
        since = parse_when("30d")
        report = usage_report(ws, since=since, agent=None, model=None, by="none")
        print(f"last 30 days: {sum(r['llm_calls'] for r in report['rows']):,} steps")

        def command(*argv: str) -> None:
            done = subprocess.run([MEMOS, *argv], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr

        def on_terminal(*argv: str) -> None:
            """The command with a pseudo-terminal for stdout and stderr (Rich renders the table)."""
            import pty

            main_fd, child_fd = pty.openpty()
            proc = subprocess.Popen([MEMOS, *argv], stdout=child_fd, stderr=child_fd)
            os.close(child_fd)
            while True:
                try:
                    if not os.read(main_fd, 65536):
                        break
                except OSError:  # the child closed the terminal
                    break
            os.close(main_fd)
            assert proc.wait() == 0

        measures = {
            "usage, in a warm process": lambda: usage_report(ws, since=since, agent=None, model=None, by="none"),
            "usage --by day, in a warm process": lambda: usage_report(ws, since=since, agent=None, model=None,
                                                                      by="day"),
            "runs show --last, in a warm process": lambda: run_detail(ws, ws.store.list_runs(limit=1)[0].run.id),
        }
        results = {name: timed(fn, 3) and timed(fn, args.repeat) for name, fn in measures.items()}
        ws.close()  # the commands below open the file themselves
        commands = (("`memos usage --since 30d` (whole process, on a terminal)", on_terminal, ("usage", "--since", "30d")),
                    ("`memos usage --since 30d` (whole process, into a pipe)", command, ("usage", "--since", "30d")),
                    ("`memos usage --since 30d --json` (whole process)", command, ("usage", "--since", "30d", "--json")),
                    ("`memos usage --since 30d --by model` (whole process, into a pipe)", command,
                     ("usage", "--since", "30d", "--by", "model")),
                    ("`memos runs list --json` (whole process)", command, ("runs", "list", "--json")),
                    ("`memos --version` (start-up alone, peer)", command, ("--version",)))
        for _, run, argv in commands:
            timed(lambda r=run, a=argv: r(*a), 2)
        # Interleaved rounds: a busy moment of the machine falls on every command alike.
        results.update((name, []) for name, *_ in commands)
        for _ in range(args.repeat):
            for name, run, argv in commands:
                results[name] += timed(lambda r=run, a=argv: r(*a), 1)
    print(f"\n| what ({args.steps:,} steps) | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, values in results.items():
        ordered = sorted(values)
        print(f"| {name} | {statistics.median(values):.1f} | {ordered[int(0.95 * (len(ordered) - 1))]:.1f} |")


if __name__ == "__main__":
    main()
