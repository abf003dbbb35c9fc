"""Scheduled messages end to end: `memos schedule` (add, list, run, rm) in real subprocesses,
each due time sent once when several `memos schedule run` race (DuckDB and PostgreSQL), and
Letta's agents.schedule through letta-client against `memos serve`, which sends what falls due."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import letta_client
import pytest

from memos.core.workspace import Workspace
from tests.conftest import MEMOS_BIN, both_backends, say
from tests.e2e.test_serve import running_server


def _user_messages(ws: Workspace, agent_id: str) -> list[str]:
    return [m.content for m in ws.store.list_messages(agent_id, order="asc", limit=1000) if m.role == "user"]


def test_the_cli_schedules_lists_runs_and_removes(memos, chat_agent, fake_llm) -> None:  # type: ignore[no-untyped-def]
    added = memos("schedule", "add", "0 8 * * *", "plan my day", "--agent", chat_agent, "--tz", "Europe/Lisbon")
    assert added.code == 0 and "on '0 8 * * *' (Europe/Lisbon)" in added.err, added.err
    once = memos("schedule", "add", "in 2h", "-", "--agent", chat_agent, "--json", input="tea break\n")
    assert once.code == 0, once.err
    tea = json.loads(once.out)
    assert tea["message"] == "tea break" and tea["cron_expression"] is None
    listed = json.loads(memos("schedule", "list", "--json").out)
    assert [(s["agent"], s["message"]) for s in listed] == [("ada", "plan my day"), ("ada", "tea break")]
    bad = memos("schedule", "add", "0 25 * * *", "x", "--agent", chat_agent)
    assert bad.code == 1 and bad.err.count("\n") == 1 and "is not a cron expression" in bad.err
    nothing = memos("schedule", "run", "--json")
    assert nothing.code == 0 and json.loads(nothing.out) == []  # nothing due yet

    ws = Workspace()
    agent = ws.store.get_agent(chat_agent)
    past = datetime.now(UTC) - timedelta(seconds=5)
    due = ws.store.create_schedule(agent.id, [{"role": "user", "content": "water the plants"}], {},
                                   cron_expression=None, time_zone="UTC", scheduled_at=past, next_run_at=past)
    ws.close()
    fake_llm.script(say("Watered."))
    ran = memos("schedule", "run", "--json")
    assert ran.code == 0, ran.err
    [outcome] = json.loads(ran.out)
    assert outcome["schedule_id"] == due.id and outcome["status"] == "completed" and outcome["reply"] == "Watered."
    runs = json.loads(memos("runs", "list", "--json").out)
    assert outcome["run_id"] in [r["id"] for r in runs]  # recorded like any other run
    assert json.loads(memos("schedule", "run", "--json").out) == []  # sent once
    history = json.loads(memos("schedule", "list", "--runs", "--json").out)
    assert [(h["schedule_id"], h["status"], h["run_id"]) for h in history] == [(due.id, "completed", outcome["run_id"])]
    assert "sent" in memos("schedule", "list").out  # the spent one-off says so

    removed = memos("schedule", "rm", tea["id"], "--yes")
    assert removed.code == 0
    assert tea["id"] not in memos("schedule", "list").out
    missing = memos("schedule", "rm", tea["id"], "--yes")
    assert missing.code == 1 and "no scheduled message" in missing.err


@both_backends
def test_racing_runners_send_each_due_time_once(backend, memos, chat_agent, fake_llm) -> None:  # type: ignore[no-untyped-def]
    fake_llm.default = say("Done.")
    ws = Workspace()
    agent = ws.store.get_agent(chat_agent)
    past = datetime.now(UTC) - timedelta(minutes=2)
    ws.store.create_schedule(agent.id, [{"role": "user", "content": "daily report"}], {},
                             cron_expression="*/5 * * * *", time_zone="UTC", scheduled_at=None, next_run_at=past)
    ws.store.create_schedule(agent.id, [{"role": "user", "content": "one-off reminder"}], {},
                             cron_expression=None, time_zone="UTC", scheduled_at=past, next_run_at=past)
    ws.close()
    started = datetime.now(UTC)
    racers = [subprocess.Popen([str(MEMOS_BIN), "schedule", "run", "--json"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for _ in range(4)]
    results = [(r.wait(timeout=120), r.stdout.read() if r.stdout else b"") for r in racers]
    assert all(code == 0 for code, _ in results), [r.stderr.read() if r.stderr else b"" for r in racers]
    sent = [o for _, out in results for o in json.loads(out)]
    assert sorted(o["reply"] for o in sent) == ["Done.", "Done."]  # two due times, each sent by one racer
    ws = Workspace()
    assert sorted(_user_messages(ws, agent.id)) == ["daily report", "one-off reminder"]
    assert sorted(r.status for r in ws.store.scheduled_runs()) == ["completed", "completed"]
    recurring = next(s for s in ws.store.list_schedules() if s.cron_expression)
    assert recurring.next_run_at is not None and recurring.next_run_at > started  # moved on
    ws.close()


def test_lettas_schedule_api_and_serve_sending_what_falls_due(fake_llm) -> None:  # type: ignore[no-untyped-def]
    fake_llm.default = say("Here is your summary.")
    with running_server() as url:
        client: Any = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        agent = client.agents.create(name="ada", model="openai/fake-model",
                                     memory_blocks=[{"label": "persona", "value": "I help."}])
        daily = client.agents.schedule.create(agent.id, messages=[{"role": "user", "content": "daily summary"}],
                                              schedule={"type": "recurring", "cron_expression": "0 9 * * *"})
        assert daily.id.startswith("schedule-") and datetime.fromisoformat(daily.next_scheduled_at).strftime("%H:%M") == "09:00"
        soon_ms = int(time.time() * 1000) + 1500
        soon = client.agents.schedule.create(agent.id, messages=[{"role": "user", "content": "stand up"}],
                                             schedule={"type": "one-time", "scheduled_at": soon_ms}, max_steps=3)
        found = client.agents.schedule.retrieve(daily.id, agent_id=agent.id)
        assert found.schedule.cron_expression == "0 9 * * *" and found.message.messages[0].content == "daily summary"
        listed = client.agents.schedule.list(agent.id)
        assert [s.id for s in listed.scheduled_messages] == [daily.id, soon.id] and listed.has_next_page is False
        assert [s.id for s in client.agents.schedule.list(agent.id, after=daily.id).scheduled_messages] == [soon.id]

        deadline = time.monotonic() + 60  # the server sends it when it falls due
        while not [m for m in client.agents.messages.list(agent_id=agent.id)
                   if m.message_type == "user_message" and m.content == "stand up"]:
            assert time.monotonic() < deadline, "the one-time message was never sent"
            time.sleep(0.1)
        while client.agents.schedule.retrieve(soon.id, agent_id=agent.id).next_scheduled_time is not None:
            assert time.monotonic() < deadline, "the sent one-off still names a next time"
            time.sleep(0.05)
        replies = [m.content for m in client.agents.messages.list(agent_id=agent.id)
                   if m.message_type == "assistant_message"]
        assert replies == ["Here is your summary."]

        assert client.agents.schedule.delete(daily.id, agent_id=agent.id).success is True
        with pytest.raises(letta_client.NotFoundError):
            client.agents.schedule.retrieve(daily.id, agent_id=agent.id)
        with pytest.raises(letta_client.UnprocessableEntityError) as past:
            client.agents.schedule.create(agent.id, messages=[{"role": "user", "content": "x"}],
                                          schedule={"type": "one-time", "scheduled_at": 1000})
        assert "has passed" in past.value.body["detail"]
        with pytest.raises(letta_client.UnprocessableEntityError) as callback:
            client.agents.schedule.create(agent.id, messages=[{"role": "user", "content": "x"}],
                                          schedule={"type": "recurring", "cron_expression": "0 9 * * *"},
                                          callback_url="http://10.0.0.1/hook")
        assert "callback_url" in callback.value.body["detail"]
