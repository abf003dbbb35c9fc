"""Replicas of `memos serve` on one PostgreSQL (two machines, each with its own home): any
replica serves any request for any agent, with the same tool code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import call, say
from tests.e2e.evolving import BUGGY, CONSOLIDATE, FIXED, TEST, TEST_WITH_COMMAS, propose
from tests.e2e.replicas import Replica, replicas

SHOUT = '''def shout(text: str) -> str:
    """Shout the text.

    Args:
        text: What to shout.

    Returns:
        The text in capitals.
    """
    return text.upper() + "!"
'''


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
    agent = _agent(a)
    tool = a.ok("PUT", "/v1/tools/", json={"source_code": SHOUT})
    a.ok("PATCH", f"/v1/agents/{agent['id']}/tools/attach/{tool['id']}")

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
    agent = _agent(a)
    tool = a.ok("PUT", "/v1/tools/", json={"source_code": SHOUT})
    a.ok("PATCH", f"/v1/agents/{agent['id']}/tools/attach/{tool['id']}")
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
        agent = _agent(a)
        tool = a.ok("PUT", "/v1/tools/", json={"source_code": SHOUT})
        a.ok("PATCH", f"/v1/agents/{agent['id']}/tools/attach/{tool['id']}")
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
