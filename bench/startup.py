"""Cold start: `memos --help` beside a bare Typer app, and the commands pipelines run once per line.

Targets: `memos --help` within 1.3x of the bare app (#3); with an LLM that answers at once,
`memos send` p50 <= 0.6 s and <= 150 MiB peak, <= 1.0 s when its turn searches or inserts
into archival memory, and `memos archival search` / `archival add` of one line <= 1.0 s (#20).
Every command is a whole process, timed from start to exit; peak memory is its max RSS.
The LLM is the scripted OpenAI-compatible server of the tests, answering at once.
Run: .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fakellm

from common import machine_line  # noqa: E402

RUNS = 20
BARE = '''
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(name)
app()
'''


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    error = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {error.strip()}")
    return elapsed, usage.ru_maxrss / 1024


def pipeline_reply(request: dict) -> dict:
    """The scripted LLM of a pipeline turn: the user's first word picks the tool, then it answers."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return {"tool_calls": [{"name": "send_message", "arguments": {"message": "done"}}]}
    text = str(last.get("content") or "")
    if "search:" in text:
        query = text.split("search:", 1)[1].strip()
        return {"tool_calls": [{"name": "archival_memory_search", "arguments": {"query": query}}]}
    if "remember:" in text:
        fact = text.split("remember:", 1)[1].strip()
        return {"tool_calls": [{"name": "archival_memory_insert", "arguments": {"content": fact}}]}
    return {"tool_calls": [{"name": "send_message", "arguments": {"message": "hello"}}]}


def pipeline_commands(memos: str, home: Path, url: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    env = {**os.environ, "MEMOS_HOME": str(home), "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-bench",
           "NO_COLOR": "1"}
    for setup in (["agents", "create", "ada", "--model", "openai/bench"],
                  ["archival", "add", "--agent", "ada", "The user's dog is a border collie named Pixel."]):
        subprocess.run([memos, *setup], env=env, check=True, capture_output=True)
    commands = {
        "memos send": [memos, "send", "--agent", "ada", "hello there"],
        "memos send (turn searches archival)": [memos, "send", "--agent", "ada", "search: what pet do I have"],
        "memos send (turn inserts archival)": [memos, "send", "--agent", "ada", "remember: I like tea"],
        "memos archival search": [memos, "archival", "search", "--agent", "ada", "what pet does the user have"],
        "memos archival add (one line)": [memos, "archival", "add", "--agent", "ada", "Pixel is four years old."],
    }
    return commands, env


def report(samples: dict[str, list[tuple[float, float]]], base: float | None) -> None:
    print(f"{'command':<40} {'p50 ms':>8} {'p95 ms':>8} {'MiB p50':>8} {'vs bare':>8}")
    for name, values in samples.items():
        walls = [wall for wall, _ in values]
        p50 = statistics.median(walls)
        p95 = statistics.quantiles(walls, n=20)[18] if len(walls) > 1 else p50
        rss = statistics.median(mib for _, mib in values)
        ratio = f"{p50 / base:7.2f}x" if base else ""
        print(f"{name:<40} {p50 * 1000:8.1f} {p95 * 1000:8.1f} {rss:8.0f} {ratio:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    memos = str(Path(sys.executable).parent / "memos")
    from tests.fakellm import FakeLLM

    fake = FakeLLM(responder=pipeline_reply, keep_requests=False)
    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE)
        help_commands = {"bare typer --help": [sys.executable, str(bare), "--help"],
                         "memos --help": [memos, "--help"], "memos --version": [memos, "--version"]}
        commands, env = pipeline_commands(memos, Path(tmp) / "home", fake.url)
        through_litellm, litellm_env = pipeline_commands(memos, Path(tmp) / "home-litellm", fake.url)
        subprocess.run([memos, "config", "set", "llm_client", "litellm"], env=litellm_env, check=True,
                       capture_output=True)
        runs: dict[str, tuple[list[str], dict[str, str] | None]] = {
            **{name: (cmd, None) for name, cmd in help_commands.items()},
            **{name: (cmd, env) for name, cmd in commands.items()},
            "memos send, llm_client = litellm (before)": (through_litellm["memos send"], litellm_env),
        }
        for cmd, cmd_env in runs.values():  # warm the OS file cache: we measure imports, not the disk
            timed(cmd, cmd_env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(args.runs):  # interleaved, so background noise hits all alike
            for name, (cmd, cmd_env) in runs.items():
                samples[name].append(timed(cmd, cmd_env))
    fake.close()
    print(machine_line())
    base = statistics.median(wall for wall, _ in samples["bare typer --help"])
    report({name: samples[name] for name in help_commands}, base)
    print()
    report({name: values for name, values in samples.items() if name not in help_commands}, None)


if __name__ == "__main__":
    main()
