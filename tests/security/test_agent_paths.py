"""An agent's name never reaches the file system, and no delete leaves the agents directory.

On 6c4d22d `POST /v1/agents` took `../../victimdir` and `..`; deleting such an agent removed
a directory outside the home, and a failed create named `..` deleted the home itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from memos.core import agents as core_agents
from memos.core.home import Home
from memos.core.workspace import Workspace
from memos.errors import InvalidInput
from memos.store.base import NewAgent

BAD_NAMES = ["..", ".", "../../victimdir", "a/b", "back\\slash", " .. ", "tab\there", "nul\x00", "lone\ud800"]


@pytest.fixture
def ws(memos_home: Path) -> Workspace:
    workspace = Workspace()
    yield workspace
    workspace.close()


@pytest.mark.parametrize("name", BAD_NAMES)
def test_every_entry_point_refuses_path_like_names(ws: Workspace, name: str) -> None:
    with pytest.raises(InvalidInput, match="not a valid agent name"):
        core_agents.create_agent(ws, name, letta_name=True)
    with pytest.raises(InvalidInput, match="not a valid agent name"):
        core_agents.create_agent(ws, name)
    agent = core_agents.create_agent(ws, "fine name", letta_name=True)
    with pytest.raises(InvalidInput, match="not a valid agent name"):
        core_agents.rename_agent(ws, agent, name, letta_name=True)


def test_the_api_and_the_cli_refuse_them_in_one_line(ws: Workspace, memos, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from memos.server.app import create_app

    with TestClient(create_app(ws), base_url="http://127.0.0.1:8283") as http:
        for name in ("../../victimdir", ".."):
            refused = http.post("/v1/agents/", json={"name": name, "model": "openai/fake-model"})
            assert refused.status_code == 422 and "not a valid agent name" in refused.json()["detail"]
        made = http.post("/v1/agents/", json={"name": "Research Bot", "model": "openai/fake-model"})
        assert made.status_code == 201
        renamed = http.patch(f"/v1/agents/{made.json()['id']}", json={"name": "../x"})
        assert renamed.status_code == 422
    cli = memos("agents", "create", "../../victimdir")
    assert cli.code == 1 and cli.err.count("\n") == 1 and "not a valid agent name" in cli.err
    assert not (tmp_path / "victimdir").exists()


def test_directories_are_named_by_id_and_an_old_name_cannot_delete_outside(ws: Workspace, tmp_path: Path) -> None:
    victim = ws.home.root.parent / "victimdir"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    # An agent whose name was stored by an older memos (or another replica) without the rule.
    agent = ws.store.create_agent(NewAgent(name="../../victimdir", description="", system="s", model="m",
                                           embedding_model="local", context_window=8192), [], unique_name=False)
    assert ws.home.dir_of(agent) == ws.home.agents_dir / agent.id
    from memos.tools.shared_code import tool_repo

    repo = tool_repo(ws, agent)  # `memos tools new` makes the repo here, not outside
    assert repo.path == ws.home.agents_dir / agent.id / "tools" and (repo.path / ".git").is_dir()
    core_agents.delete_agent(ws, agent)
    assert (victim / "precious.txt").read_text() == "keep me"
    assert not (ws.home.agents_dir / agent.id).exists()
    assert ws.home.root.exists() and ws.home.database.exists()


def test_the_delete_guard_refuses_anything_but_an_agent_directory(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("x")
    link = ws.home.agents_dir / "agent-link"
    link.symlink_to(outside, target_is_directory=True)
    for path in (ws.home.agents_dir / ".." / "logs", ws.home.agents_dir, ws.home.agents_dir / "..", link,
                 ws.home.agents_dir / "agent-x" / ".." / ".." / ".."):
        with pytest.raises(InvalidInput, match="refused to delete"):
            ws.home.remove_agent_dir(path)
    assert (outside / "file").exists() and ws.home.logs_dir.exists() and link.is_symlink()
    inside = ws.home.agents_dir / "agent-1234"
    (inside / "tools").mkdir(parents=True)
    ws.home.remove_agent_dir(inside)
    assert not inside.exists()


def test_a_failed_create_removes_only_its_own_directory(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    from memos.tools import repo as tool_repo

    def broken(path: Path, agent_name: str) -> None:
        path.mkdir(parents=True)
        raise OSError("disk full")

    monkeypatch.setattr(tool_repo.ToolRepo, "ensure", classmethod(lambda cls, path, name: broken(path, name)))
    (ws.home.logs_dir / "keep.log").write_text("x")
    with pytest.raises(OSError):
        core_agents.create_agent(ws, "doomed")
    assert (ws.home.logs_dir / "keep.log").exists() and ws.home.database.exists()
    assert list(ws.home.agents_dir.iterdir()) == []
    assert ws.store.list_agents() == []


def test_an_older_home_keeps_its_tools_under_the_agent_name_until_first_use(memos_home: Path) -> None:
    ws = Workspace(Home(memos_home))
    agent = core_agents.create_agent(ws, "ada")
    by_id = ws.home.agents_dir / agent.id
    by_id.rename(ws.home.agents_dir / "ada")  # how memos laid it out before
    assert ws.home.dir_of(agent) == by_id and (by_id / "tools" / ".git").is_dir()
    assert not (ws.home.agents_dir / "ada").exists()
    ws.close()
