"""SVG snapshots of every pane at 100x30, on data with fixed dates.

A changed look fails with the new picture written beside the old one
(`<name>.new.svg`) to compare in a browser; after reviewing, accept it with
`MEMOS_UPDATE_SNAPSHOTS=1 ./scripts/dev test tests/tui/test_snapshots.py`.
(pytest-textual-snapshot would do this, but it requires pytest < 9.)
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import unit_vectors
from tests.tui.helpers import settled_screenshot, show

# TUI tests run on their own after the rest (scripts/dev): they wait on screens, which load slows.
pytestmark = [pytest.mark.anyio, pytest.mark.tui]

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZE = (100, 30)
# Later than any test run, so 'last activity' (the newest of these and the agent's creation) is fixed.
T0 = datetime(2030, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def ws(memos_home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import itertools
    import uuid

    from memos.core import memory
    from memos.store import ids

    # Fixed ids: the prompt names the agent's id, and `memos context` counts its tokens.
    numbers = itertools.count(1)
    monkeypatch.setattr(ids, "new_id", lambda prefix: f"{prefix}-{uuid.UUID(int=next(numbers))}")
    from memos.core.agents import create_agent
    from memos.core.workspace import Workspace
    from memos.store.base import NewMessage, NewPassage

    workspace = Workspace()
    agent = create_agent(workspace, "ada", model="openai/gpt-4o-mini", persona="I am Ada, a careful assistant.",
                         human="Name: Sam\nLikes oolong tea")
    memory.create(workspace.store, agent, "projects", "memos: a terminal agent", limit=200)
    workspace.store.append_messages(agent.id, [
        NewMessage("user", "Hello! I like oolong tea.", created_at=T0),
        NewMessage("assistant", "", tool_calls=[{"id": "c1", "name": "send_message",
                                                 "arguments": '{"message": "Noted: oolong tea."}'}],
                   created_at=T0 + timedelta(seconds=2)),
        NewMessage("tool", "None", name="send_message", tool_call_id="c1", created_at=T0 + timedelta(seconds=2))])
    vectors = unit_vectors(3)
    workspace.store.insert_passages(agent.id, [
        NewPassage("The launch is on Friday", vectors[0], ["work"], created_at=T0),
        NewPassage("Sam's cat is called Miso", vectors[1], ["home"], created_at=T0 + timedelta(hours=1)),
        NewPassage("Oolong is a partly oxidised tea", vectors[2], [], created_at=T0 + timedelta(hours=2))])
    yield workspace


def check(svg: str, name: str) -> None:
    path = SNAPSHOTS / f"{name}.svg"
    if os.environ.get("MEMOS_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg)
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}: run with MEMOS_UPDATE_SNAPSHOTS=1, look at it, commit it")
    if svg != path.read_text():
        new = path.with_name(f"{name}.new.svg")
        new.write_text(svg)
        pytest.fail(f"the {name} pane looks different: compare {path} with {new}")


@pytest.mark.parametrize("pane", ["agents", "memory", "archival", "conversation", "evolution", "runs"])
async def test_pane_snapshot(ws, pane: str) -> None:  # type: ignore[no-untyped-def]
    from memos.tui.app import MemosApp

    app = MemosApp(ws)
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot, app, pane)
        app.clear_notifications()
        check(await settled_screenshot(pilot, app), pane)
