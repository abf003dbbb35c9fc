"""The soak: one agent lived in the way that broke it. Used by tests/e2e/test_soak.py (short)
and bench/soak.py (10,000 turns).

Several pipelines send turns to one agent at once: long-lived worker processes (a turn
in-process each time, as `memos chat` or a server does), a shell pipeline of real `memos
send` processes, and HTTP clients of a `memos serve`. A sleep pass (`memos evolve --sleep`)
runs every `sleep_every` turns, and a random one of those processes is killed with SIGKILL
every `kill_every` turns, then restarted. The fake LLM refuses any prompt a real provider
would refuse and checks that each turn's own message is the newest in its prompt.

Afterwards `memos doctor` repairs what the kills left and must find no problem; every turn
a sender saw answered is stored exactly once with its reply; no run is left running.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.fakellm import FakeLLM

ROOT = Path(__file__).resolve().parents[1]
MEMOS = Path(sys.executable).parent / "memos"
TURN = re.compile(r"^turn (\S+)$")


def respond(request: dict[str, Any]) -> dict[str, Any]:
    """The agent's side of the soak: summaries, sleep passes and turns, some with a memory edit."""
    messages = request["messages"]
    first = messages[0].get("content") or ""
    if len(messages) == 1 and "summarising" in first:
        return {"content": "Earlier turns were numbered soak messages."}
    if "sleep-time pass" in first:
        return {"tool_calls": [{"name": "memory_finish_edits", "arguments": {}}]}
    if "improving your own tool code" in first:
        return {"tool_calls": [{"name": "no_change", "arguments": {"reason": "nothing to improve in a soak"}}]}
    last = messages[-1]
    if last["role"] == "tool":
        return {"tool_calls": [{"name": "send_message", "arguments": {"message": "noted"}}]}
    match = TURN.match(last.get("content") or "") if last["role"] == "user" else None
    if match is None:  # the turn's own message must be the newest thing in its prompt
        return {"status": 400, "message": f"soak: the newest message is not the turn's: {last!r}"[:300]}
    name = match.group(1)
    if name.endswith("7"):  # one turn in ten edits memory (the edit must be recorded with its step)
        return {"tool_calls": [{"name": "core_memory_append",
                                "arguments": {"label": "scratch", "content": f"saw {name}"}}]}
    return {"tool_calls": [{"name": "send_message", "arguments": {"message": f"answer {name}"}}]}


@dataclass
class SoakReport:
    turns: int = 0
    acked: list[str] = field(default_factory=list)
    kills: int = 0
    sleep_passes: int = 0
    overhead_ms: dict[int, tuple[float, float]] = field(default_factory=dict)  # turns -> (p50, p95)
    peak_rss_mib: float = 0.0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Soak:
    def __init__(self, home: Path, *, turns: int, workers: int = 4, kill_every: int = 200,
                 sleep_every: int = 1000, server: bool = True, shell: bool = True, seed: int = 1,
                 checkpoints: tuple[int, ...] = ()) -> None:
        self.home = home
        self.target = turns
        self.kill_every = kill_every
        self.sleep_every = sleep_every
        self.random = random.Random(seed)
        self.checkpoints = checkpoints
        self.fake = FakeLLM(responder=respond, keep_requests=False)
        self.env = {**os.environ, "MEMOS_HOME": str(home), "OPENAI_BASE_URL": self.fake.url,
                    "OPENAI_API_KEY": "sk-fake", "MEMOS_AGENT": "soak", "PYTHONPATH": str(ROOT),
                    "MEMOS_RETRY_BASE_SECONDS": "0.05", "NO_COLOR": "1"}
        self.report = SoakReport()
        self.lock = threading.Lock()
        self.overheads: list[float] = []
        self.rss: list[float] = []
        self.stop = threading.Event()
        self.workers = [f"w{i}" for i in range(workers)]
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.server_url: str | None = None
        self.use_server = server
        self.use_shell = shell
        self.threads: list[threading.Thread] = []

    # -- senders ---------------------------------------------------------------------
    def _ack(self, name: str, overhead_ms: float | None = None, rss_mib: float | None = None) -> None:
        with self.lock:
            self.report.acked.append(name)
            self.report.turns += 1
            if overhead_ms is not None:
                self.overheads.append(overhead_ms)
            if rss_mib is not None:
                self.rss.append(rss_mib)
            done = self.report.turns
        if done in self.checkpoints:
            with self.lock:
                window = self.overheads[-200:]
                self.report.overhead_ms[done] = (float(np.percentile(window, 50)), float(np.percentile(window, 95)))
        if done >= self.target:
            self.stop.set()

    def _worker(self, label: str) -> None:
        """A long-lived process running turns in-process; restarted after each kill."""
        serial = 0
        while not self.stop.is_set():
            proc = subprocess.Popen([sys.executable, "-m", "tests.soak_worker", label, str(serial)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, env=self.env, cwd=ROOT)
            with self.lock:
                self.processes[label] = proc
            assert proc.stdout is not None
            for line in proc.stdout:
                kind, *rest = line.split()
                if kind == "ack":
                    self._ack(rest[0], float(rest[1]), float(rest[2]))
                    serial = int(rest[0].split("-")[-1]) + 1
                if self.stop.is_set():
                    break
            proc.kill()
            proc.wait()
            serial += 1000  # a turn in flight when killed may or may not be stored: never reuse its name

    def _shell(self) -> None:
        """A shell pipeline: one real `memos send` process per turn."""
        serial = 0
        while not self.stop.is_set():
            name = f"sh-{serial}"
            serial += 1
            proc = subprocess.Popen([str(MEMOS), "send", f"turn {name}"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
            with self.lock:
                self.processes["shell"] = proc
            out, err = proc.communicate()
            if proc.returncode == 0:
                self._ack(name)
            elif proc.returncode != -signal.SIGKILL:
                self.report.problems.append(f"memos send exited {proc.returncode}: {err.strip()[-300:]}")

    def _start_server(self) -> None:
        proc = subprocess.Popen([str(MEMOS), "serve", "--port", "0"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env)
        assert proc.stderr is not None
        match = re.search(r"http://[\d.]+:\d+", proc.stderr.readline())
        if match is None:
            raise RuntimeError("memos serve announced no address")
        with self.lock:
            self.processes["server"] = proc
            self.server_url = match.group(0)

    def _client(self, label: str) -> None:
        import httpx

        serial = 0
        while not self.stop.is_set():
            name = f"{label}-{serial}"
            serial += 1
            url = self.server_url
            try:
                response = httpx.post(f"{url}/v1/agents/{self.agent_id}/messages", timeout=120,
                                      json={"messages": [{"role": "user", "content": f"turn {name}"}]})
            except httpx.HTTPError:
                time.sleep(0.2)  # the server was killed: wait for its restart
                continue
            if response.status_code == 200:
                self._ack(name)
            elif response.status_code not in (409, 502, 503):
                self.report.problems.append(f"server answered {response.status_code}: {response.text[:300]}")

    def _server_keeper(self) -> None:
        while not self.stop.is_set():
            proc = self.processes.get("server")
            if proc is not None and proc.poll() is not None:
                self._start_server()
            time.sleep(0.1)

    # -- chaos ------------------------------------------------------------------------
    def _chaos(self) -> None:
        next_kill, next_sleep = self.kill_every, self.sleep_every
        while not self.stop.wait(0.05):
            turns = self.report.turns
            if turns >= next_kill:
                next_kill += self.kill_every
                with self.lock:
                    victims = [p for p in self.processes.values() if p.poll() is None]
                if victims:
                    self.random.choice(victims).send_signal(signal.SIGKILL)
                    self.report.kills += 1
            if turns >= next_sleep:
                next_sleep += self.sleep_every
                sleeper = threading.Thread(target=self._sleep_pass, daemon=True)
                sleeper.start()
                self.threads.append(sleeper)

    def _sleep_pass(self) -> None:
        """`memos evolve --sleep` as cron runs it, beside the turns."""
        result = subprocess.run([str(MEMOS), "evolve", "--sleep", "--agent", "soak"], capture_output=True,
                                text=True, env=self.env, timeout=600)
        if result.returncode not in (0, 10, 11, 12):
            self.report.problems.append(f"sleep pass exited {result.returncode}: {result.stdout[-300:]} "
                                        f"{result.stderr[-300:]}")
        with self.lock:
            self.report.sleep_passes += 1

    # -- the whole run ------------------------------------------------------------------
    def run(self) -> SoakReport:
        started = time.monotonic()
        created = subprocess.run([str(MEMOS), "agents", "create", "soak", "--model", "openai/fake-model"],
                                 capture_output=True, text=True, env=self.env)
        if created.returncode != 0:
            raise RuntimeError(created.stderr)
        self.agent_id = created.stdout.strip()
        subprocess.run([str(MEMOS), "memory", "create", "scratch", "Notes of the soak.", "--limit", "100000"],
                       capture_output=True, text=True, env=self.env, check=True)
        if self.use_server:
            self._start_server()
        targets = [(self._worker, (w,)) for w in self.workers] + [(self._chaos, ())]
        if self.use_shell:
            targets.append((self._shell, ()))
        if self.use_server:
            targets += [(self._client, ("http",)), (self._server_keeper, ())]
        self.threads = [threading.Thread(target=fn, args=args, daemon=True) for fn, args in targets]
        for thread in self.threads:
            thread.start()
        self.stop.wait()
        with self.lock:
            for proc in self.processes.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)  # the end is one more kill
        for thread in list(self.threads):
            thread.join(timeout=600)
        self._verify()
        self.report.peak_rss_mib = max(self.rss, default=0.0)
        self.report.seconds = time.monotonic() - started
        self.fake.close()
        return self.report

    def _verify(self) -> None:
        problems = self.report.problems
        if self.fake.rejected:
            problems.append(f"{len(self.fake.rejected)} prompts refused, first: {self.fake.rejected[0][0]}")
        doctor = subprocess.run([str(MEMOS), "doctor", "--json"], capture_output=True, text=True, env=self.env)
        if doctor.returncode != 0:
            problems.append(f"memos doctor: {doctor.stdout[-600:]}{doctor.stderr[-300:]}")
        again = subprocess.run([str(MEMOS), "doctor", "--json"], capture_output=True, text=True, env=self.env)
        statuses = {f["status"] for a in json.loads(again.stdout)["agents"] for f in a["findings"]} \
            if again.returncode == 0 else {"problem"}
        if statuses != {"ok"}:
            problems.append(f"a second doctor still found: {again.stdout[-600:]}")
        sys.path.insert(0, str(ROOT))
        os.environ["MEMOS_HOME"] = str(self.home)
        from memos.core.workspace import Workspace

        ws = Workspace()
        try:
            store = ws.store
            agent = store.get_agent("soak")
            with store._read() as con:  # type: ignore[attr-defined]
                users = [r[0] for r in con.execute(
                    "SELECT content FROM messages WHERE agent_id = ? AND role = 'user'", [agent.id]).fetchall()]
                running = con.execute("SELECT count(*) FROM runs WHERE agent_id = ? AND status = 'running'",
                                      [agent.id]).fetchone()[0]
            stored = {}
            for text in users:
                stored[text] = stored.get(text, 0) + 1
            twice = [t for t, n in stored.items() if n > 1]
            lost = [name for name in self.report.acked if stored.get(f"turn {name}", 0) != 1]
            if twice:
                problems.append(f"{len(twice)} user messages stored twice, e.g. {twice[:3]}")
            if lost:
                problems.append(f"{len(lost)} answered turns not stored once, e.g. {lost[:3]}")
            if running:
                problems.append(f"{running} runs left running after doctor")
        finally:
            ws.close()
