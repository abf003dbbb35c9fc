"""The TUI driven with Textual's Pilot: each pane's main flow, on a real store and the fake LLM."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MEMOS_BIN, both_backends
from tests.tui.helpers import show

# TUI tests run on their own after the rest (scripts/dev): they wait on screens, which load slows.
pytestmark = [pytest.mark.anyio, pytest.mark.tui]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


@pytest.fixture
def ws(memos_home: Path, backend: str):  # type: ignore[no-untyped-def]
    from memos.core.agents import create_agent
    from memos.core.workspace import Workspace

    workspace = Workspace()
    create_agent(workspace, "ada", model="openai/fake-model")
    yield workspace


def _app(ws: Any):  # type: ignore[no-untyped-def]
    from memos.tui.app import MemosApp

    return MemosApp(ws)


async def _wait(pilot: Any, condition: Any, seconds: float = 20) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the screen"
        await pilot.pause(0.1)


def _log_text(app: Any) -> str:
    from textual.widgets import RichLog

    return "\n".join(line.text for line in app.query_one(RichLog).lines)


async def test_agents_create_switch_and_delete(ws) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import DataTable

    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await show(pilot, app, "agents")
        table = app.query_one("#agents-table", DataTable)
        table.focus()
        await pilot.press("n")
        await pilot.press(*"bob", "enter")
        await _wait(pilot, lambda: table.row_count == 2)
        assert ws.store.get_agent("bob").id == app.agent_id  # the new agent is in use
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await _wait(pilot, lambda: table.row_count == 1)
        assert [a.name for a in ws.store.list_agents()] in (["ada"], ["bob"])


async def test_memory_edit_over_the_limit_is_refused_then_saved_and_undone(ws) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Button, Static, TextArea

    from memos.core import memory

    agent = ws.store.get_agent("ada")
    memory.create(ws.store, agent, "notes", "short", limit=20)
    app = _app(ws)
    async with app.run_test(size=(110, 34)) as pilot:
        await show(pilot, app, "memory")
        pane = app.query_one("#memory-pane")
        pane.current = "notes"
        pane._show("notes")
        editor = app.query_one("#block-editor", TextArea)
        editor.load_text("x" * 25)
        await pilot.pause()
        assert "5 over the limit" in str(app.query_one("#block-count", Static).render())
        assert app.query_one("#save", Button).disabled
        pane.action_save()  # the key works even when the button is disabled: the core refuses it
        await pilot.pause()
        assert ws.store.get_agent_block(agent.id, "notes").value == "short"

        editor.load_text("fits in 20")
        await pilot.pause()
        assert not app.query_one("#save", Button).disabled
        await pilot.press("ctrl+s")
        await _wait(pilot, lambda: ws.store.get_agent_block(agent.id, "notes").value == "fits in 20")
        await pilot.press("ctrl+z")
        await _wait(pilot, lambda: ws.store.get_agent_block(agent.id, "notes").value == "short")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert "by user" in str(app.query_one("#block-history", Static).render())


async def test_archival_search_and_add(ws) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import DataTable, Input, Select

    from memos.core import archival
    from memos.core.ingest import Record

    agent = ws.store.get_agent("ada")
    archival.insert(ws.store, agent, [Record("The launch is on Friday", ["work"]), Record("Cats like boxes")])
    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await show(pilot, app, "archival")
        table = app.query_one("#archival-table", DataTable)
        assert table.row_count == 2
        assert "2 passages · tags work 1" in str(app.query_one("#archival-status").render())
        app.query_one("#archival-mode", Select).value = "text"
        query = app.query_one("#archival-query", Input)
        query.focus()
        await pilot.press(*"launch", "enter")
        await _wait(pilot, lambda: table.row_count == 1)
        await _wait(pilot, lambda: "1 result(s) for 'launch' (text)" in str(app.query_one("#archival-status").render()))
        assert "The launch is on Friday" in str(table.get_row_at(0)[1])
        assert table.get_row_at(0)[2] == "work"


async def test_conversation_streams_a_reply_from_the_fake_llm(ws, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input

    fake_llm.script({"tool_calls": [{"name": "core_memory_append",
                                     "arguments": {"label": "human", "content": "Likes tea"}}]},
                    {"content": "Noted: you like tea."})
    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await show(pilot, app, "conversation")
        app.query_one("#chat-input", Input).focus()
        await pilot.press(*"I like tea", "enter")
        await _wait(pilot, lambda: "agent: Noted: you like tea." in _log_text(app))
        assert "→ core_memory_append" in _log_text(app)
        assert "Likes tea" in ws.store.get_agent_block(ws.store.get_agent("ada").id, "human").value


@both_backends
async def test_changes_by_another_process_show_up(ws) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import TextArea

    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await show(pilot, app, "memory")
        done = subprocess.run([str(MEMOS_BIN), "memory", "set", "persona", "Set by a pipeline", "--agent", "ada"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        # The promise: within two seconds of the other process's write.
        await _wait(pilot, lambda: app.query_one("#block-editor", TextArea).text == "Set by a pipeline", seconds=2)


async def test_evolution_accept_and_roll_back(ws, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import DataTable

    from memos.evolve.sleep import run_pass
    from memos.store.base import NewMessage
    from memos.tools.custom import tool_repo

    agent = ws.store.get_agent("ada")
    repo = tool_repo(ws, agent)
    (repo.path / "shout.py").write_text('def shout(text: str) -> str:\n    """Shout.\n\n    Args:\n'
                                        '        text: What to shout.\n    """\n    return text.upper()\n')
    repo.commit_all("Add shout")
    ws.store.append_messages(agent.id, [NewMessage("user", "please add an exclamation mark when you shout")])
    fake_llm.script({"content": "nothing to consolidate"}, {"tool_calls": [{"name": "propose_change", "arguments": {
        "title": "Shout with an exclamation mark", "rationale": "the user asked",
        "files": {"shout.py": (repo.path / "shout.py").read_text().replace("text.upper()", 'text.upper() + "!"')}}}]})
    report = run_pass(ws, [agent], policy="review")
    assert report.outcomes[0].status == "pending"

    app = _app(ws)
    async with app.run_test(size=(120, 34)) as pilot:
        await show(pilot, app, "evolution")
        table = app.query_one("#evolution-table", DataTable)
        assert table.get_row_at(0)[0] == "pending"
        table.focus()
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await _wait(pilot, lambda: table.get_row_at(0)[0] == "canary")  # shout exists: it is canaried first
        assert '"!"' not in (repo.path / "shout.py").read_text()
        panel = app.query_one("#evolution-canaries")
        await _wait(pilot, lambda: "next: continue" in str(panel.render()))
        assert "old" in str(panel.render()) and "0 calls" in str(panel.render())

        # Live traffic recorded by another process shows up without a key press.
        from memos.store.base import CanaryCall

        evolution = ws.store.list_evolutions(agent.id, status="canary")[0]
        ws.store.record_canary_calls([CanaryCall(f"canary-{i}", evolution.id, agent.id, "shout", f"c{i}",
                                                 "new" if i % 4 == 0 else "old", "ok", 5.0, 3) for i in range(12)])
        await _wait(pilot, lambda: "9 calls" in str(panel.render()) and "3 calls" in str(panel.render()))
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("y")
        await _wait(pilot, lambda: table.get_row_at(0)[0] == "accepted")
        assert '"!"' in (repo.path / "shout.py").read_text()
        await _wait(pilot, lambda: not panel.display)
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("y")
        await _wait(pilot, lambda: table.get_row_at(0)[0] == "rolled_back")
        assert '"!"' not in (repo.path / "shout.py").read_text()


async def test_command_palette_reaches_every_pane(ws) -> None:  # type: ignore[no-untyped-def]
    from textual.command import CommandList, CommandPalette
    from textual.widgets import TabbedContent

    def first_command() -> str:
        commands = app.screen.query_one(CommandList)
        return str(commands.get_option_at_index(0).prompt) if commands.option_count else ""

    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await pilot.press("ctrl+p")
        await _wait(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Go to evolution")
        await _wait(pilot, lambda: "Go to evolution" in first_command())
        await pilot.press("enter")
        await _wait(pilot, lambda: app.query_one(TabbedContent).active == "evolution")
        # The palette gives focus back to where it was (the chat input); the tab must not follow it.
        await _wait(pilot, lambda: app.focused is not None and app.focused.id == "evolution-table")
        assert app.query_one(TabbedContent).active == "evolution"


async def test_a_late_focus_in_a_hidden_tab_does_not_pull_it_to_the_front(ws) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import TabbedContent

    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await show(pilot, app, "memory")
        await _wait(pilot, lambda: app.focused is not None and app.focused.id == "block-list")
        app.query_one("#chat-input").focus()  # what start-up focus does when it lands late
        await pilot.pause(0.3)
        assert app.query_one(TabbedContent).active == "memory"
        await _wait(pilot, lambda: app.focused is not None and app.focused.id == "block-list")


async def test_escape_cancels_a_streaming_reply_and_keeps_the_partial_text(ws, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input, Static

    fake_llm.script({"content": "one two three four five six seven eight nine ten", "chunk_delay": 0.3})
    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await show(pilot, app, "conversation")
        app.query_one("#chat-input", Input).focus()
        await pilot.press(*"count slowly", "enter")
        await _wait(pilot, lambda: "one" in str(app.query_one("#conversation-live", Static).render()))
        await pilot.press("escape")
        await _wait(pilot, lambda: "(stopped: cancelled)" in _log_text(app) or "agent: one" in _log_text(app))
        kept = ws.store.list_messages(ws.store.get_agent("ada").id, limit=1)[0]
        assert kept.role == "assistant" and kept.content.startswith("one")
        assert len(kept.content) < len("one two three four five six seven eight nine ten")


async def test_runs_pane_follows_a_send_in_another_terminal(ws, fake_llm) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import DataTable, Static

    app = _app(ws)
    async with app.run_test(size=(140, 34)) as pilot:
        await show(pilot, app, "runs")
        table = app.query_one("#runs-table", DataTable)
        assert table.row_count == 0
        fake_llm.script({"tool_calls": [{"name": "conversation_search", "arguments": {"query": "tea"}}],
                         "prompt_tokens": 900, "completion_tokens": 9},
                        {"tool_calls": [{"name": "send_message", "arguments": {"message": "No tea yet."}}]})
        done = subprocess.run([str(MEMOS_BIN), "send", "--agent", "ada", "tea?"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        await _wait(pilot, lambda: table.row_count == 1)
        assert table.get_row_at(0)[2] == "completed" and table.get_row_at(0)[3] == "2"
        assert table.get_row_at(0)[4] == "1,000/29"
        detail = app.query_one("#runs-detail", Static)
        await _wait(pilot, lambda: "conversation_search" in str(detail.render()))
        assert "step 2" in str(detail.render())
        usage = str(app.query_one("#runs-usage", Static).render())
        assert "last 24 h: agent: 2 LLM calls, 1,000 in / 29 out" in usage


async def test_memory_tab_shows_what_the_next_prompt_holds(ws) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Static

    from memos.core.observe import context_overview

    app = _app(ws)
    async with app.run_test(size=(140, 40)) as pilot:
        await show(pilot, app, "memory")
        panel = str(app.query_one("#context-panel", Static).render())
        overview = context_overview(ws, ws.store.get_agent("ada"))
        assert f"{overview.total:,} of 128,000 tokens" in panel
        assert "tool schemas" in panel and "summarises at 115,200" in panel


async def test_a_send_message_reply_streams_into_the_conversation(ws, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import threading

    from textual.widgets import Input, Static

    from tests.conftest import say

    resume = threading.Event()  # the model pauses after '{"message": "Hello Ana, the weat'
    fake_llm.script({**say("Hello Ana, the weather in Lisbon is sunny today."), "pause_after": 4, "resume": resume})
    app = _app(ws)
    async with app.run_test(size=(110, 30)) as pilot:
        await show(pilot, app, "conversation")
        app.query_one("#chat-input", Input).focus()
        await pilot.press(*"weather?", "enter")
        live = app.query_one("#conversation-live", Static)
        await _wait(pilot, lambda: "Hello Ana" in str(live.render()))
        assert "sunny" not in str(live.render())
        resume.set()
        await _wait(pilot, lambda: "sunny today." in _log_text(app))
