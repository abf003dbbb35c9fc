"""Chaos among replicas (issue 30): several `memos serve` replicas on one PostgreSQL, clients
sending turns across them (plain, custom-tool, MCP-tool, background-streamed, cancelled), one
replica killed with SIGKILL and restarted, another frozen with SIGSTOP, and an evolution of the
custom tool accepted and promoted mid-run. Then every invariant is checked:

- every user message is stored once and answered exactly once (cancelled ones at most once);
- no run is left running; `memos doctor` finds no problem on any replica;
- every custom tool call returned what the code of the commit it recorded returns, and that
  commit is one the store holds.

Clients act as a careful client does: each message carries an otid; a request that fails (a dead
replica, a timeout on a frozen one, a busy agent) is retried on the next replica with the same
otid, and a retry told "already answered" reads the answer from the run that gave it.

tests/e2e/test_replicas_chaos.py runs a short one in the suite; bench/chaos.py the issue's size.
"""

from __future__ import annotations

import json
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.replicas import SHOUT, Replica, start_replica

SHOUT_V1 = SHOUT
SHOUT_V2 = SHOUT_V1.replace('+ "!"', '+ "!!"')
SHOUT_TEST = '''from shout import shout


def test_shout_is_loud() -> None:
    assert shout("a").startswith("A")
'''
MCP_SERVER = str(Path(__file__).resolve().parent / "mcp_server.py")
KINDS = ("plain", "plain", "plain", "plain", "tool", "tool", "mcp", "stream", "cancel", "plain")
TURN = re.compile(r"\bT(\d+) (\w+)")


def reply(request: dict[str, Any]) -> dict[str, Any]:
    """The scripted model: answers by what the request holds, so replies never depend on order."""
    offered = {t["function"]["name"] for t in request.get("tools", [])}
    if "propose_change" in offered:  # the sleep pass asks for a change to the tools
        return {"tool_calls": [{"name": "propose_change", "arguments": {
            "title": "Shout louder", "rationale": "Users asked for more emphasis.",
            "files": {"shout.py": SHOUT_V2, "tests/test_shout.py": SHOUT_TEST}}}]}
    if "memory_finish_edits" in offered and "send_message" not in offered:  # consolidation
        return {"tool_calls": [{"name": "memory_finish_edits", "arguments": {}}]}
    messages = request.get("messages", [])
    users = [m for m in messages if m.get("role") == "user"]
    found = TURN.search(str(users[-1].get("content"))) if users else None
    if found is None:
        return {"tool_calls": [{"name": "send_message", "arguments": {"message": "ok"}}]}
    number, kind = found.groups()
    if messages[-1].get("role") == "tool" or kind in ("plain", "stream"):
        return {"tool_calls": [{"name": "send_message", "arguments": {"message": f"answer T{number}"}}]}
    if kind == "tool":
        return {"tool_calls": [{"name": "shout", "arguments": {"text": f"t{number}"}}]}
    if kind == "mcp":
        return {"tool_calls": [{"name": "forecast", "arguments": {"city": "Oslo", "days": 1}}]}
    return {"content": "slow " * 60, "chunk_delay": 0.05}  # cancel: a reply long enough to be cancelled


@dataclass
class Outcome:
    number: int
    kind: str
    agent: str
    answered: bool = False
    cancelled: bool = False
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class Report:
    outcomes: list[Outcome]
    problems: list[str]
    kills: int = 0
    freezes: int = 0
    evolution: str | None = None
    seconds: float = 0.0


class Chaos:
    def __init__(self, root: Path, url: str, *, turns: int = 300, clients: int = 4, replica_count: int = 3,
                 freeze_seconds: float = 90.0, lease_seconds: float = 20.0, request_timeout: float = 20.0,
                 seed: int = 7) -> None:
        self.root, self.url = root, url
        self.turns, self.clients, self.replica_count = turns, clients, replica_count
        self.freeze_seconds, self.lease_seconds, self.request_timeout = freeze_seconds, lease_seconds, request_timeout
        self.random = random.Random(seed)
        self.env = {"MEMOS_DATABASE_URL": url, "MEMOS_TURN_LEASE_SECONDS": str(lease_seconds)}
        self.replicas: list[Replica] = []
        self.down: set[int] = set()  # replicas killed or frozen now (clients still try them: they do not know)
        self.done = 0
        self._lock = threading.Lock()
        self.kills = self.freezes = 0
        self.evolution: str | None = None

    # -- the cluster ------------------------------------------------------------------------------
    def _start(self, index: int) -> Replica:
        name = "abcdefgh"[index]
        return start_replica(name, self.root / f"home-{name}", self.env)

    def _set_up(self) -> dict[str, str]:
        self.replicas = [self._start(i) for i in range(self.replica_count)]
        first = self.replicas[0]
        agents = {}
        for name in ("ada", "bob"):
            agent = first.ok("POST", "/v1/agents/", json={"name": name, "model": "openai/fake-model"})
            agents[name] = agent["id"]
        added = first.cli("mcp", "add", "weather", "--timeout", "10", "--", sys.executable, MCP_SERVER)
        assert added.code == 0, added.err
        tool = first.ok("PUT", "/v1/tools/", json={"source_code": SHOUT_V1})
        for name, agent_id in agents.items():
            first.ok("PATCH", f"/v1/agents/{agent_id}/tools/attach/{tool['id']}")
            attached = first.cli("tools", "attach", "mcp:weather/forecast", "--agent", name)
            assert attached.code == 0, attached.err
        repo = first.home / "agents" / agents["ada"] / "tools"
        (repo / "tests" / "test_shout.py").write_text(SHOUT_TEST)
        committed = first.cli("tools", "commit", "--agent", "ada", "-m", "Test shout")
        assert committed.code == 0, committed.err
        return agents

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.proc.poll() is None:
                replica.thaw()
                replica.proc.terminate()
        for replica in self.replicas:
            try:
                replica.proc.wait(15)
            except Exception:  # noqa: BLE001
                replica.proc.kill()

    # -- clients ----------------------------------------------------------------------------------
    def _turn(self, outcome: Outcome, agent_id: str, start: int) -> None:
        otid = f"chaos-{outcome.number}"
        text = f"T{outcome.number} {outcome.kind}"
        message = {"messages": [{"role": "user", "content": text, "otid": otid}]}
        for attempt in range(40):
            outcome.attempts += 1
            replica = self.replicas[(start + attempt) % len(self.replicas)]
            try:
                if outcome.kind == "stream" and attempt == 0:
                    self._background(replica, agent_id, message, outcome)
                elif outcome.kind == "cancel" and attempt == 0:
                    self._cancelled(replica, agent_id, message, outcome)
                else:
                    self._send(replica, agent_id, message, outcome)
                return
            except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
                outcome.errors.append(f"{replica.name}: {str(exc)[:160]}")
                time.sleep(min(2.0, 0.2 * (attempt + 1)))
        outcome.errors.append("gave up")

    def _send(self, replica: Replica, agent_id: str, message: dict[str, Any], outcome: Outcome) -> None:
        response = replica.http("POST", f"/v1/agents/{agent_id}/messages", json=message, timeout=self.request_timeout)
        if response.status_code == 409 and "already sent, and answered by run" in response.text:
            run_id = re.search(r"run (run-[\w-]+)", response.json()["detail"])
            assert run_id, response.text
            answer = replica.http("GET", f"/v1/runs/{run_id.group(1)}/messages", timeout=self.request_timeout)
            assert answer.status_code == 200, answer.text
            said = [m for m in answer.json() if m.get("message_type") == "assistant_message"]
            outcome.answered = outcome.answered or bool(said)
            outcome.cancelled = outcome.cancelled or not said
            return
        assert response.status_code == 200, f"{response.status_code} {response.text[:200]}"
        body = response.json()
        said = [m for m in body["messages"] if m["message_type"] == "assistant_message"]
        if body["stop_reason"]["stop_reason"] == "cancelled":
            outcome.cancelled = True
        else:
            assert said, body
            outcome.answered = True

    def _background(self, replica: Replica, agent_id: str, message: dict[str, Any], outcome: Outcome) -> None:
        """Stream in the background, leave after the first chunks, resume through another replica."""
        body = {**message, "streaming": True, "background": True}
        run_id = None
        with httpx.stream("POST", f"{replica.url}/v1/agents/{agent_id}/messages/stream", json=body,
                          timeout=self.request_timeout) as response:
            assert response.status_code == 200, response.read()[:200]
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    run_id = json.loads(line[6:]).get("run_id") or run_id
                    if run_id:
                        break
        assert run_id, "no run id in the stream"
        other = self.replicas[(self.replicas.index(replica) + 1) % len(self.replicas)]
        with httpx.stream("POST", f"{other.url}/v1/runs/{run_id}/stream", json={},
                          timeout=self.request_timeout) as resumed:
            assert resumed.status_code == 200, resumed.read()[:200]
            lines = [line for line in resumed.iter_lines() if line.startswith("data: ")]
        assert lines and lines[-1] == "data: [DONE]", lines[-3:]
        kinds = [json.loads(line[6:]).get("message_type") for line in lines[:-1]]
        # A stream whose replica died mid-turn ends without an answer: the retry (same otid) gives it.
        assert "assistant_message" in kinds, f"the resumed stream ended without an answer: {kinds[-3:]}"
        outcome.answered = True

    def _cancelled(self, replica: Replica, agent_id: str, message: dict[str, Any], outcome: Outcome) -> None:
        """Stream the turn, and once its run is named cancel that run through another replica."""
        other = self.replicas[(self.replicas.index(replica) + 1) % len(self.replicas)]
        stop = None
        with httpx.stream("POST", f"{replica.url}/v1/agents/{agent_id}/messages/stream",
                          json={**message, "streaming": True, "stream_tokens": True},
                          timeout=self.request_timeout) as response:
            assert response.status_code == 200, response.read()[:200]
            asked = False
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("run_id") and not asked:
                    asked = True
                    other.http("POST", f"/v1/agents/{agent_id}/messages/cancel", json={"run_ids": [chunk["run_id"]]},
                               timeout=self.request_timeout)
                if chunk.get("message_type") == "stop_reason":
                    stop = chunk.get("stop_reason")
        assert stop is not None, "the stream ended without a stop reason"
        outcome.cancelled = stop == "cancelled"
        outcome.answered = stop != "cancelled"

    def _client(self, index: int, numbers: list[int], agents: dict[str, str], out: list[Outcome]) -> None:
        for number in numbers:
            agent = "ada" if index % 2 == 0 else "bob"
            outcome = Outcome(number, KINDS[number % len(KINDS)], agent)
            self._turn(outcome, agents[agent], start=number)
            out.append(outcome)
            with self._lock:
                self.done += 1

    # -- faults -----------------------------------------------------------------------------------
    def _faults(self, agents: dict[str, str], finished: threading.Event) -> None:
        def wait_for(share: float) -> bool:
            while self.done < self.turns * share:
                if finished.wait(0.2):
                    return False
            return True

        if not wait_for(0.2):
            return
        victim = self.random.randrange(len(self.replicas))
        self.replicas[victim].proc.kill()  # kill -9
        self.replicas[victim].proc.wait()
        self.kills += 1
        time.sleep(2)
        self.replicas[victim] = self._start(victim)  # the machine comes back (its home kept)
        if not wait_for(0.35):
            return
        frozen = (victim + 1) % len(self.replicas)
        self.replicas[frozen].freeze()
        self.freezes += 1
        self._evolve(agents, proposer=(frozen + 1) % len(self.replicas))
        finished.wait(self.freeze_seconds)
        self.replicas[frozen].thaw()

    def _evolve(self, agents: dict[str, str], proposer: int) -> None:
        """An evolution of shout proposed by a sleep pass on one replica, accepted (a canary) and
        promoted through the API of another, while the clients go on."""
        replica = self.replicas[proposer]
        passed = replica.cli("evolve", "--sleep", "--agent", "ada")
        assert passed.code in (0, 10, 11), passed.err
        other = self.replicas[(proposer + 1) % len(self.replicas)]
        listed = self._retrying(other, "GET", f"/v1/agents/{agents['ada']}/evolutions").json()
        pending = [e for e in listed if e["status"] == "pending"]
        assert pending, listed
        self.evolution = pending[0]["id"]
        path = f"/v1/agents/{agents['ada']}/evolutions/{self.evolution}"
        accepted = self._retrying(other, "POST", f"{path}/accept").json()
        if accepted["status"] == "canary":  # the monitor may settle it first; else a person promotes it
            time.sleep(2)
            if self._retrying(other, "GET", path).json()["status"] == "canary":
                self._retrying(other, "POST", f"{path}/promote")

    def _retrying(self, replica: Replica, method: str, path: str) -> httpx.Response:
        for attempt in range(20):
            target = self.replicas[(self.replicas.index(replica) + attempt) % len(self.replicas)]
            try:
                response = target.http(method, path, timeout=self.request_timeout)
                if response.status_code < 300:
                    return response
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"{method} {path} failed on every replica")

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> Report:
        started = time.monotonic()
        agents = self._set_up()
        outcomes: list[Outcome] = []
        finished = threading.Event()
        fault_errors: list[str] = []

        def faults_logged() -> None:
            try:
                self._faults(agents, finished)
            except Exception as exc:  # noqa: BLE001 - reported with the other problems
                fault_errors.append(f"fault injection failed: {type(exc).__name__}: {str(exc)[:300]}")

        faults = threading.Thread(target=faults_logged, daemon=True)
        faults.start()
        numbers = list(range(1, self.turns + 1))
        threads = [threading.Thread(target=self._client, args=(i, numbers[i::self.clients], agents, outcomes))
                   for i in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        finished.set()
        faults.join(self.freeze_seconds + 120)
        for replica in self.replicas:
            replica.thaw()
        problems = fault_errors + self._check(agents, outcomes)
        return Report(sorted(outcomes, key=lambda o: o.number), problems, self.kills, self.freezes, self.evolution,
                      round(time.monotonic() - started, 1))

    # -- the invariants ---------------------------------------------------------------------------
    def _check(self, agents: dict[str, str], outcomes: list[Outcome]) -> list[str]:
        problems = [f"T{o.number} ({o.kind}): {o.errors[-1]}" for o in outcomes if "gave up" in o.errors]
        first = self.replicas[0]
        for name, agent_id in agents.items():
            log = self._log(first, agent_id)
            asked: dict[str, int] = {}
            answers: dict[str, int] = {}
            for message in log:
                found = TURN.search(str(message.get("content") or ""))
                if message["message_type"] == "user_message" and found:
                    asked[found.group(1)] = asked.get(found.group(1), 0) + 1
                if message["message_type"] == "assistant_message":
                    said = re.fullmatch(r"answer T(\d+)", str(message.get("content")))
                    if said:
                        answers[said.group(1)] = answers.get(said.group(1), 0) + 1
            for outcome in (o for o in outcomes if o.agent == name):
                key = str(outcome.number)
                if asked.get(key, 0) != 1:
                    problems.append(f"T{key}: stored {asked.get(key, 0)} times")
                if outcome.kind != "cancel" and answers.get(key, 0) != 1:
                    problems.append(f"T{key} ({outcome.kind}): answered {answers.get(key, 0)} times "
                                    f"(client: answered={outcome.answered}, {outcome.attempts} attempt(s), "
                                    f"errors {outcome.errors[-3:]})")
                if outcome.kind == "cancel" and answers.get(key, 0) > 1:
                    problems.append(f"T{key} (cancel): answered {answers[key]} times")
        running = first.ok("GET", "/v1/runs/", params={"statuses": "running", "limit": 1000})
        problems += [f"run {r['id']} left running" for r in running]
        for replica in self.replicas:
            doctor = replica.cli("doctor", "--json")
            if doctor.code != 0:
                problems.append(f"doctor on {replica.name}: {doctor.out[-400:]} {doctor.err[-200:]}")
        problems += self._tool_calls_match_their_code(agents)
        return problems

    @staticmethod
    def _log(replica: Replica, agent_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": 1000, "order": "asc"}
            if after:
                params["after"] = after
            page = replica.ok("GET", f"/v1/agents/{agent_id}/messages", params=params)
            if not page:
                return found
            found += page
            after = page[-1]["id"]

    def _tool_calls_match_their_code(self, agents: dict[str, str]) -> list[str]:
        """Every recorded shout call returned what its recorded commit's code returns."""
        import os

        from memos.core.home import Home
        from memos.core.workspace import Workspace
        from memos.tools.shared_code import tool_repo

        problems = []
        before = os.environ.get("MEMOS_DATABASE_URL")
        os.environ["MEMOS_DATABASE_URL"] = self.url  # a home of its own on the cluster, as a replica's
        ws = Workspace(Home(self.root / "checker"))
        try:
            for agent_id in agents.values():
                agent = ws.store.get_agent(agent_id)
                repo = tool_repo(ws, agent)
                known = set(repo.git.git.rev_list("--all").split())
                for call in ws.store.list_tool_calls(agent_id, name="shout", limit=100_000):
                    if call.status != "success":
                        continue
                    if call.tool_commit not in known:
                        problems.append(f"shout call {call.tool_call_id} ran commit {call.tool_commit}, "
                                        "which the store does not hold")
                        continue
                    source = repo.files_at(call.tool_commit).get("shout.py", "")
                    suffix = "!!" if '"!!"' in source else "!"
                    text = json.loads(call.arguments)["text"]
                    if (call.result or "").strip().strip('"') != text.upper() + suffix:
                        problems.append(f"shout call {call.tool_call_id} returned {call.result!r}, "
                                        f"but commit {call.tool_commit[:10]} returns {text.upper() + suffix!r}")
        finally:
            ws.close()
            if before is None:
                os.environ.pop("MEMOS_DATABASE_URL", None)
            else:
                os.environ["MEMOS_DATABASE_URL"] = before
        return problems
