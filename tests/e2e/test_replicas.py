"""Replicas of `memos serve` on one PostgreSQL (two machines, each with its own home): any
replica serves any request for any agent, with the same tool code."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import letta_client
import pytest

from tests.conftest import MEMOS_BIN, call, say, stop_process
from tests.e2e.evolving import BUGGY, CONSOLIDATE, FIXED, TEST, TEST_WITH_COMMAS, propose
from tests.e2e.replicas import SHOUT, Replica, replicas, start_replica
from tests.e2e.test_mcp import SERVER


@pytest.fixture
def pair(postgres_url: str, fake_llm: Any, tmp_path: Path):  # type: ignore[no-untyped-def]
    with replicas(tmp_path, 2) as both:
        yield both


def _agent(replica: Replica, name: str = "ada") -> dict[str, Any]:
    return replica.ok("POST", "/v1/agents/", json={"name": name, "model": "openai/fake-model"})


def _send(replica: Replica, agent_id: str, text: str) -> list[dict[str, Any]]:
    body = replica.ok("POST", f"/v1/agents/{agent_id}/messages", json={"messages": [{"role": "user", "content": text}]})
    messages: list[dict[str, Any]] = body["messages"]
    return messages


def _returns(messages: list[dict[str, Any]]) -> list[str]:
    return [m["tool_return"] for m in messages if m["message_type"] == "tool_return_message"]


def _offered(request: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] for t in request.get("tools", [])}


def test_a_tool_made_on_one_replica_is_offered_and_run_on_the_other(pair, fake_llm) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    agent = a.agent_with_shout()

    ran = b.ok("POST", f"/v1/agents/{agent['id']}/tools/shout/run", json={"args": {"text": "hi"}})
    assert (ran["status"], ran["func_return"]) == ("success", "HI!")

    fake_llm.script(call("shout", text="hey"), say("done"))
    messages = _send(b, agent["id"], "shout hey")
    assert "shout" in _offered(fake_llm.requests[-2])
    assert any("HEY!" in text for text in _returns(messages)), messages

    listed = b.cli("tools", "list", "--agent", "ada", "--json")
    assert listed.code == 0, listed.err
    [row] = [r for r in listed.json() if r["name"] == "shout"]
    assert row["attached"] and row["problem"] is None
    assert b.cli("doctor").code == 0


def test_a_change_committed_on_one_home_runs_everywhere_and_the_record_stays_put(pair, fake_llm) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    agent = a.agent_with_shout()
    b.ok("POST", f"/v1/agents/{agent['id']}/tools/shout/run", json={"args": {"text": "x"}})  # B has a copy now

    repo_b = b.home / "agents" / agent["id"] / "tools"
    (repo_b / "shout.py").write_text(SHOUT.replace('+ "!"', '+ "!!!"'))
    committed = b.cli("tools", "commit", "--agent", "ada", "-m", "Louder")
    assert committed.code == 0, committed.err

    # A person's uncommitted edit in A's home does not run: every replica runs the store's commit.
    repo_a = a.home / "agents" / agent["id"] / "tools"
    a.ok("POST", f"/v1/agents/{agent['id']}/tools/shout/run", json={"args": {"text": "x"}})
    assert (repo_a / "shout.py").read_text().endswith('+ "!!!"\n')  # A's copy followed the store
    (repo_a / "shout.py").write_text(SHOUT.replace('+ "!"', '+ "?"'))

    for replica in (a, b, a):
        fake_llm.script(call("shout", text="hey"), say("done"))
        assert any("HEY!!!" in text for text in _returns(_send(replica, agent["id"], "shout"))), replica.name
    [record] = [t for t in a.ok("GET", f"/v1/agents/{agent['id']}/tools") if t["name"] == "shout"]
    assert '"!!!"' in record["source_code"]


def test_a_replica_that_never_saw_the_agent_runs_its_tools_at_the_first_turn(postgres_url, fake_llm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with replicas(tmp_path, 1) as [a]:
        agent = a.agent_with_shout()
    with replicas(tmp_path / "later", 1) as [c]:
        fake_llm.script(call("shout", text="new"), say("done"))
        assert any("NEW!" in text for text in _returns(_send(c, agent["id"], "shout")))


def test_an_evolution_proposed_on_one_replica_is_accepted_through_the_other(pair, fake_llm) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    assert a.cli("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    agent_id = a.cli("agents", "show", "ada", "--json").json()["id"]
    repo_a = a.home / "agents" / agent_id / "tools"
    (repo_a / "parse_price.py").write_text(BUGGY)
    (repo_a / "tests" / "test_parse_price.py").write_text(TEST)
    assert a.cli("tools", "commit", "-m", "Add parse_price", "--agent", "ada").code == 0
    fake_llm.script(call("parse_price", text="$1,200.50"), say("Hmm."))
    _send(b, agent_id, "how much is $1,200.50?")  # the failing call, recorded through B

    fake_llm.script(CONSOLIDATE, propose("Accept thousands separators",
                                         {"parse_price.py": FIXED, "tests/test_parse_price.py": TEST_WITH_COMMAS}))
    assert a.cli("evolve", "--sleep").code == 11  # pending review, proposed on A
    [evolution] = b.ok("GET", f"/v1/agents/{agent_id}/evolutions")
    b.ok("POST", f"/v1/agents/{agent_id}/evolutions/{evolution['id']}/accept")
    b.ok("POST", f"/v1/agents/{agent_id}/evolutions/{evolution['id']}/promote")

    for replica in (a, b):
        fake_llm.script(call("parse_price", text="$1,200.50"), say("ok"))
        assert any("1200.5" in text for text in _returns(_send(replica, agent_id, "price?"))), replica.name
    assert b.cli("doctor").code == 0


def test_a_renamed_agent_keeps_its_tools_everywhere_and_its_old_name_is_free(pair, fake_llm) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    agent = a.agent_with_shout()
    b.ok("POST", f"/v1/agents/{agent['id']}/tools/shout/run", json={"args": {"text": "x"}})
    a.ok("PATCH", f"/v1/agents/{agent['id']}", json={"name": "bea"})

    ran = b.ok("POST", f"/v1/agents/{agent['id']}/tools/shout/run", json={"args": {"text": "still"}})
    assert ran["func_return"] == "STILL!"
    newcomer = _agent(b, "ada")
    assert "shout" not in {t["name"] for t in b.ok("GET", f"/v1/agents/{newcomer['id']}/tools")}
    log = b.cli("tools", "log", "--agent", "ada", "--json")
    assert log.code == 0, log.err
    assert [entry["summary"] for entry in log.json()] == ["Start the tool repo of agent ada"]


def test_two_agents_may_share_a_name_as_on_duckdb(pair) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    first, second = _agent(a, "twin"), _agent(b, "twin")
    assert first["id"] != second["id"]
    names = [x["name"] for x in a.ok("GET", "/v1/agents/")]
    assert names.count("twin") == 2
    refused = a.cli("agents", "create", "twin")  # memos's own CLI keeps names unique, on both backends
    assert refused.code == 1 and "already exists" in refused.err


def test_a_cancel_sent_to_one_replica_stops_the_turn_running_on_the_other(pair, fake_llm) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    agent = _agent(a)
    fake_llm.script({"content": "slow " * 60, "chunk_delay": 0.1})
    answered: list[dict[str, Any]] = []
    turn = threading.Thread(target=lambda: answered.append(a.ok(
        "POST", f"/v1/agents/{agent['id']}/messages", json={"messages": [{"role": "user", "content": "talk"}]})))
    turn.start()
    deadline = time.monotonic() + 30
    while fake_llm.chunks_sent < 3:
        assert time.monotonic() < deadline, "the turn never started streaming"
        time.sleep(0.01)
    cancelled_at = time.monotonic()
    assert b.ok("POST", f"/v1/agents/{agent['id']}/messages/cancel")["cancelled"] == 1
    turn.join(30)
    assert time.monotonic() - cancelled_at < 3  # seen within a second, not after the 6 s reply
    assert answered[0]["stop_reason"]["stop_reason"] == "cancelled"
    [run_id] = {m["run_id"] for m in answered[0]["messages"]}
    assert b.ok("GET", f"/v1/runs/{run_id}")["status"] == "cancelled"


def test_a_background_stream_resumes_on_the_other_replica_while_it_runs(pair, fake_llm) -> None:  # type: ignore[no-untyped-def]
    a, b = pair
    client_a = letta_client.Letta(base_url=a.url, max_retries=0)
    client_b = letta_client.Letta(base_url=b.url, max_retries=0)
    agent = _agent(a)
    resume = threading.Event()
    fake_llm.script({"content": "one two three four five six seven eight", "pause_after": 2, "resume": resume})
    stream = client_a.agents.messages.stream(agent["id"], messages=[{"role": "user", "content": "count"}],
                                             background=True, stream_tokens=True)
    seen = []
    for chunk in stream:
        seen.append(chunk)
        if chunk.message_type == "assistant_message":
            break  # the client leaves mid-reply, and comes back through the other replica
    stream.close()
    run_id = next(c.run_id for c in seen if getattr(c, "run_id", None))
    assert client_b.runs.retrieve(run_id).background is True

    rest: list[Any] = []
    follower = threading.Thread(target=lambda: rest.extend(
        client_b.runs.messages.stream(run_id, starting_after=seen[-1].seq_id)))
    follower.start()
    resume.set()  # the model goes on while B's client follows
    follower.join(60)
    text = "".join(c.content for c in [*seen, *rest] if c.message_type == "assistant_message")
    assert text == "one two three four five six seven eight"  # nothing lost, nothing twice
    assert [c.message_type for c in rest][-2:] == ["stop_reason", "usage_statistics"]
    again = list(client_b.runs.messages.stream(run_id))  # from the start, after the end
    assert "".join(c.content for c in again if c.message_type == "assistant_message") == text


def test_a_frozen_replica_loses_its_turn_and_the_retried_message_is_answered_once(postgres_url, fake_llm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A replica that hangs mid-turn (SIGSTOP: a frozen VM) blocks the agent only until its
    lease lapses. The client retries its message (same otid) on another replica, which takes
    the turn over and answers it; the frozen one, thawed, writes nothing; a further retry is
    told the message was answered."""
    with replicas(tmp_path, 2, env={"MEMOS_TURN_LEASE_SECONDS": "4"}) as (a, b):
        agent = _agent(a)
        gate = threading.Event()
        fake_llm.script({**say("from a"), "gate": gate}, say("for two"), say("for one"))
        message = {"messages": [{"role": "user", "content": "one", "otid": "otid-one"}]}
        path = f"/v1/agents/{agent['id']}/messages"
        stale: list[Any] = []
        turn_a = threading.Thread(target=lambda: stale.append(a.http("POST", path, json=message, timeout=120)))
        turn_a.start()
        fake_llm.wait_for_requests(1)  # A is in its turn, waiting for the model
        a.freeze()
        try:
            started = time.monotonic()
            _send(b, agent["id"], "two")  # another client's message comes first, through B: B takes over
            assert time.monotonic() - started < 30
            retried = b.ok("POST", path, json=message)  # the first client gave up on A and retries on B
            assert [m["content"] for m in retried["messages"] if m["message_type"] == "assistant_message"] == ["for one"]
        finally:
            a.thaw()
        gate.set()  # the frozen turn's model call returns; its writes are refused
        turn_a.join(60)
        assert stale and stale[0].status_code in (409, 503), stale[0].text
        again = b.http("POST", path, json=message)
        assert again.status_code == 409 and "already sent, and answered by run" in again.json()["detail"]

        log = b.ok("GET", path, params={"limit": 50, "order": "asc"})
        said = [(m["message_type"], m["content"]) for m in log if m["message_type"] in ("user_message", "assistant_message")]
        # "one" moved to where it was answered: after "two", which came while it waited.
        assert said == [("user_message", "two"), ("assistant_message", "for two"),
                        ("user_message", "one"), ("assistant_message", "for one")]
        runs = b.ok("GET", "/v1/runs/", params={"agent_id": agent["id"]})
        assert sorted(r["status"] for r in runs) == ["completed", "completed", "failed"]  # A's: interrupted
        # A serves again once thawed (its dead sessions were replaced), and the cluster is well.
        fake_llm.script(say("a again"))
        assert "a again" in [m.get("content") for m in _send(a, agent["id"], "three")]
        doctor = b.cli("doctor", "--json")
        assert doctor.code == 0, doctor.out


def test_health_names_the_replica_its_database_and_migration(pair) -> None:  # type: ignore[no-untyped-def]
    from memos.store.migrations import migrations_for

    latest = migrations_for("postgresql")[-1].id
    for replica in pair:
        health = replica.ok("GET", "/v1/health/")
        assert health["status"] == "ok" and health["replica"].startswith(f"{replica.name}:")
        assert health["database"]["backend"] == "postgresql" and health["database"]["migration"] == latest
        assert health["database"]["cluster"] is True


def test_settings_and_mcp_servers_are_the_cluster_s(postgres_url, fake_llm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with replicas(tmp_path, 2, env={"MEMOS_SERVER_TOKEN": "s3cret"}) as (a, b):  # a token: stdio MCP over the API
        _settings_and_mcp_servers(a, b, fake_llm)


def _settings_and_mcp_servers(a: Replica, b: Replica, fake_llm: Any) -> None:
    assert a.cli("config", "set", "evolve.canary.calls", "7").code == 0
    assert a.cli("config", "set", "default_agent", "ada").code == 0  # a person's own choice: local
    shown = b.cli("config", "show", "--json").json()
    assert shown["settings"]["evolve.canary.calls"] == 7
    assert shown["sources"]["evolve.canary.calls"] == {"source": "cluster", "scope": "cluster"}
    assert shown["settings"]["default_agent"] is None and shown["sources"]["default_agent"]["scope"] == "local"

    agent = _agent(a)
    a.ok("POST", "/v1/mcp-servers/", json={"server_name": "weather", "config": {
        "mcp_server_type": "stdio", "command": sys.executable, "args": [SERVER]}})  # through A's API
    assert [s["server_name"] for s in b.ok("GET", "/v1/mcp-servers/")] == ["weather"]
    assert b.cli("tools", "attach", "mcp:weather/forecast", "--agent", "ada").code == 0
    fake_llm.script(call("forecast", city="Oslo", days=2), say("Sunny."))
    assert any("Sunny in Oslo" in text for text in _returns(_send(b, agent["id"], "weather?")))

    # A replica whose config.toml says otherwise is told so at start, and uses the cluster's value.
    (b.home / "config.toml").write_text('[evolve.canary]\ncalls = 99\n')
    assert any("evolve.canary.calls = 99" in line and "cluster's value is 7" in line
               for line in b.cli("config", "show").err.splitlines())
    assert b.cli("config", "get", "evolve.canary.calls").out.strip() == "7"
    restarted = start_replica("b2", b.home, b.env)
    try:
        deadline = time.monotonic() + 30
        while not any("evolve.canary.calls = 99" in line for line in restarted.log):
            assert time.monotonic() < deadline, restarted.log
            time.sleep(0.05)
    finally:
        stop_process(restarted.proc)
    assert b.cli("doctor").code == 1  # the drift is a finding until config.toml agrees


def test_migrate_to_brings_each_agent_s_tool_code_along(postgres_database, fake_llm, memos, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    made = memos("tools", "new", "echo_back", "--agent", "ada", "-d", "Say it back.")
    assert made.code == 0, made.err
    moved = memos("db", "migrate-to", postgres_database, "--json")
    assert moved.code == 0, moved.err
    assert moved.json()["tool_repos"] == 1
    with replicas(tmp_path / "cluster", 1, env={"MEMOS_DATABASE_URL": postgres_database}) as [a]:
        agent_id = a.ok("GET", "/v1/agents/")[0]["id"]
        ran = a.ok("POST", f"/v1/agents/{agent_id}/tools/echo_back/run", json={"args": {"text": "hi"}})
        assert (ran["status"], ran["func_return"]) == ("success", "hi")


def test_one_sleep_pass_at_a_time_for_the_whole_cluster(pair, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """A pass running on A's machine keeps B's cron pass out (it exits at once, code 12), and
    B's pass leaves A's live evolution alone."""
    a, b = pair
    agent = _agent(a)
    fake_llm.script(say("hi"))
    _send(a, agent["id"], "hello")  # something for the pass to consolidate
    held = threading.Event()
    fake_llm.script({**CONSOLIDATE, "gate": held}, {"tool_calls": [{"name": "no_change", "arguments": {"reason": "ok"}}]})
    first = subprocess.Popen([str(MEMOS_BIN), "evolve", "--sleep"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "MEMOS_HOME": str(a.home)})
    try:
        deadline = time.monotonic() + 60
        while fake_llm.request_count < 2:  # the pass on A is waiting on the model
            assert time.monotonic() < deadline, "the pass never asked the model"
            time.sleep(0.02)
        second = b.cli("evolve", "--sleep")
        assert second.code == 12 and "another `memos evolve --sleep` pass is running" in second.err
        assert first.poll() is None
    finally:
        held.set()
        first.wait(60)
    assert first.returncode in (0, 10), first.stderr.read() if first.stderr else ""
