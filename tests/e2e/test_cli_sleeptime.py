"""A sleep-time agent from the terminal: `memos agents create --sleeptime N`; `memos send`
returns at once and the review runs in a detached process, stored like any turn."""

from __future__ import annotations

import time

from tests.conftest import call, say


def test_send_starts_a_background_review_every_n_turns(memos, fake_llm, memos_home):  # type: ignore[no-untyped-def]
    made = memos("agents", "create", "ada", "--model", "openai/fake-model", "--sleeptime", "2")
    assert made.code == 0, made.err
    assert "agent 'ada-sleeptime' reviews its conversation every 2 turn(s)" in made.err
    fake_llm.script(say("Hello."), call("memory_rethink", label="human", new_memory="Name: Sam."),
                    call("memory_finish_edits"))
    assert memos("send", "--agent", "ada", "Hi, I am Sam.").code == 0  # the first turn is reviewed, as in Letta

    def reviews() -> list[dict]:
        deadline = time.monotonic() + 60
        while True:
            runs = memos("runs", "list", "--agent", "ada-sleeptime", "--json").json()
            if runs and all(r["status"] != "running" for r in runs):
                return runs
            assert time.monotonic() < deadline, (memos_home / "logs" / "sleeptime.log").read_text()
            time.sleep(0.1)

    assert [r["status"] for r in reviews()] == ["completed"]
    assert memos("memory", "show", "human", "--agent", "ada").out.strip() == "Name: Sam."
    assert "ada-sleeptime: review done (end_turn" in (memos_home / "logs" / "sleeptime.log").read_text()
    fake_llm.script(say("Noted."))
    assert memos("send", "--agent", "ada", "I work night shifts.").code == 0
    assert len(memos("runs", "list", "--agent", "ada-sleeptime", "--json").json()) == 1  # 2 turns of 2: none yet
    offered = {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert "core_memory_append" not in offered and "send_message" in offered

    assert memos("agents", "update", "ada", "--no-sleeptime").code == 0
    assert [a["name"] for a in memos("agents", "list", "--json").json()] == ["ada"]
