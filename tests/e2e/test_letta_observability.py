"""What a run and its steps left behind, read through letta-client (strict validation) and raw
HTTP against a real `memos serve`: traces, metrics, a step's messages and feedback, running runs,
deleting a run; and Letta's older names for things memos serves (core memory, sources, the
search across agents with ranks, readiness, base tools, a folder's passages)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import letta_client
import pytest

from tests.conftest import call, say
from tests.e2e.test_serve import running_server


@pytest.fixture
def served(fake_llm) -> Iterator[tuple[Any, httpx.Client]]:  # type: ignore[no-untyped-def]
    with running_server() as url, httpx.Client(base_url=url, timeout=60) as http:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0), http


def _agent(client: Any, name: str = "ada") -> Any:
    return client.agents.create(name=name, model="openai/fake-model", memory_blocks=[
        {"label": "human", "value": "Name: Sam"}, {"label": "persona", "value": "I am Ada."}])


def test_a_runs_trace_metrics_and_steps_come_from_what_it_did(served, fake_llm) -> None:  # type: ignore[no-untyped-def]
    client, http = served
    agent = _agent(client)
    fake_llm.script(call("conversation_search", query="tea"), {**say("Nothing about tea."), "prompt_tokens": 40,
                                                                "completion_tokens": 5})
    reply = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "tea?"}])
    run_id = reply.messages[-1].run_id
    steps = client.runs.steps.list(run_id).items
    assert len(steps) == 2

    spans = client.runs.trace.retrieve(run_id)
    names = [s["name"] for s in spans]
    assert names == ["agent.run", "agent.step", "tool.conversation_search", "agent.step", "tool.send_message"]
    assert spans[2]["parent_span_id"] == steps[0].id and spans[1]["parent_span_id"] == run_id
    assert len(client.runs.trace.retrieve(run_id, limit=2)) == 2

    metrics = http.get(f"/v1/runs/{run_id}/metrics").json()
    assert metrics["num_steps"] == 2 and metrics["run_ns"] > 0
    ids = {t.name: t.id for t in client.agents.tools.list(agent_id=agent.id)}
    assert metrics["tools_used"] == [ids["conversation_search"], ids["send_message"]]

    step_metrics = client.steps.metrics.retrieve(steps[0].id)
    assert step_metrics.run_id == run_id and step_metrics.step_ns and step_metrics.tool_execution_ns is not None
    assert step_metrics.step_ns >= step_metrics.tool_execution_ns

    trace = client.steps.trace.retrieve(steps[1].id)
    assert trace.step_id == steps[1].id and trace.response_json["usage"]["prompt_tokens"] == 40
    answered = trace.response_json["choices"][0]["message"]  # what the model said: send_message's call
    assert [c["name"] for c in answered["tool_calls"]] == ["send_message"]
    assert "Nothing about tea." in str(answered["tool_calls"][0]["arguments"])

    first = client.steps.messages.list(steps[0].id).items
    assert [m.message_type for m in first] == ["tool_call_message", "tool_return_message"]
    assert [m.message_type for m in client.steps.messages.list(steps[1].id).items] == ["assistant_message"]

    marked = client.steps.feedback.create(steps[1].id, feedback="negative", tags=["too short"])
    assert marked.feedback == "negative" and marked.tags == ["too short"]
    again = client.steps.feedback.create(steps[1].id, feedback="positive")  # tags stay as they were
    assert client.steps.retrieve(steps[1].id).feedback == "positive" and again.tags == ["too short"]
    with pytest.raises(letta_client.NotFoundError):
        client.steps.feedback.create("step-00000000-0000-4000-8000-000000000000", feedback="positive")


def test_running_runs_are_listed_and_only_finished_ones_deleted(served, fake_llm) -> None:  # type: ignore[no-untyped-def]
    client, http = served
    agent = _agent(client)
    gate = threading.Event()
    fake_llm.script({**say("Later."), "gate": gate})
    run = client.agents.messages.create_async(agent_id=agent.id, messages=[{"role": "user", "content": "work"}])
    try:
        active = http.get("/v1/runs/active", params={"agent_id": agent.id}).json()
        assert [r["id"] for r in active] == [run.id]
        busy = http.delete(f"/v1/runs/{run.id}")
        assert busy.status_code == 409 and "cancel it first" in busy.json()["hint"]
    finally:
        gate.set()
    deadline = time.monotonic() + 60
    while client.runs.retrieve(run.id).status == "running":
        assert time.monotonic() < deadline, "the background run never finished"
        time.sleep(0.05)
    assert http.get("/v1/runs/active").json() == []
    gone = http.delete(f"/v1/runs/{run.id}")
    assert gone.status_code == 200 and gone.json()["id"] == run.id
    with pytest.raises(letta_client.NotFoundError):
        client.runs.retrieve(run.id)
    # the agent's memory of the turn stays
    assert "Later." in [m.content for m in client.agents.messages.list(agent_id=agent.id)
                        if m.message_type == "assistant_message"]
    assert http.delete(f"/v1/runs/{run.id}").status_code == 404


def test_lettas_older_routes_answer_as_the_newer_ones(served, fake_llm) -> None:  # type: ignore[no-untyped-def]
    client, http = served
    agent = _agent(client)
    memory = http.get(f"/v1/agents/{agent.id}/core-memory").json()
    assert {b["label"] for b in memory["blocks"]} == {"human", "persona"}
    assert http.get(f"/v1/agents/{agent.id}/core-memory/variables").json() == {
        "variables": {"human": "Name: Sam", "persona": "I am Ada."}}

    folder = client.folders.create(name="notes")
    client.folders.files.upload(folder.id, file=("tea.md", io.BytesIO(b"# Tea\nOolong is best brewed at 90C.\n"),
                                                 "text/markdown"))
    assert http.patch(f"/v1/agents/{agent.id}/sources/attach/{folder.id}").status_code == 200
    assert [s["id"] for s in http.get(f"/v1/agents/{agent.id}/sources").json()] == [folder.id]
    passages = http.get(f"/v1/folders/{folder.id}/passages").json()
    assert len(passages) == 1 and "Oolong" in passages[0]["text"] and passages[0]["file_name"] == "tea.md"
    assert http.get(f"/v1/folders/{folder.id}/passages").json()[0]["id"] == passages[0]["id"]
    assert http.patch(f"/v1/agents/{agent.id}/sources/detach/{folder.id}").status_code == 200
    assert client.agents.folders.list(agent_id=agent.id).items == []

    fake_llm.script(say("Oolong it is."))
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "I drink oolong daily"}])
    found = http.post("/v1/agents/messages/search", json={"query": "oolong", "roles": ["user"]}).json()
    assert [hit["message"]["content"][0]["text"] for hit in found] == ["I drink oolong daily"]
    assert found[0]["fts_rank"] == 1 and found[0]["rrf_score"] > 0 and found[0]["message"]["agent_id"] == agent.id

    assert http.get("/v1/ready/").json() == {"status": "ok"}
    assert http.get("/v1/models/embeddings").json() == [m.model_dump(mode="json", exclude_unset=True)
                                                       for m in client.models.embeddings.list()]
    base = {t["name"] for t in http.post("/v1/tools/add-base-tools").json()}
    assert {"archival_memory_search", "memory_replace", "send_message"} <= base
