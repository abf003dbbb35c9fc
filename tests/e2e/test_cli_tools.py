"""`memos tools` as a person uses it: a real git repo per agent, calls in the real sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

import git

from tests.conftest import agent_dir, call, say

WEATHER = '''"""Weather lookups (from a table: tools have no network)."""

FORECASTS = {"paris": "sunny, 21 C", "oslo": "snow, -3 C"}


def weather(city: str, unit: str = "C") -> str:
    """Tell the forecast for a city.

    Args:
        city: The city's name, any case.
        unit: C or F.
    """
    if city.lower() not in FORECASTS:
        raise ValueError(f"no forecast for {city}")
    return FORECASTS[city.lower()]
'''


def repo_of(home: Path, agent: str = "ada") -> Path:
    return agent_dir(home, agent) / "tools"


def test_an_agent_starts_with_a_tool_repo(memos, memos_home):
    assert memos("agents", "create", "ada").code == 0
    repo = git.Repo(repo_of(memos_home))
    assert not repo.is_dirty(untracked_files=True)
    assert {"README.md", "pytest.ini", ".gitignore", "tests/__init__.py"} <= {e.path for e in repo.head.commit.tree.traverse()}
    assert "Memos-Made: true" in repo.head.commit.message
    assert memos("agents", "rename", "ada", "bea").code == 0
    assert (repo_of(memos_home, "bea") / ".git").is_dir()


def test_new_edit_test_run_and_rm(memos, memos_home, tmp_path):
    assert memos("agents", "create", "ada").code == 0
    created = memos("tools", "new", "shout", "-d", "Shout the text back.")
    assert created.code == 0, created.err
    assert created.out.strip().endswith("tools/shout.py")
    listed = {row["name"]: row for row in memos("tools", "list", "--json").json()}
    assert listed["shout"]["attached"] and listed["shout"]["kind"] == "custom"
    assert listed["send_message"]["kind"] == "builtin"

    # edit through $EDITOR: a script that rewrites the file stands in for a person
    editor = tmp_path / "editor.py"
    editor.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
                      "p.write_text(p.read_text().replace('return text', 'return text.upper() + \"!\"'))\n")
    edited = memos("tools", "edit", "shout", env={"EDITOR": f"{sys.executable} {editor}"})
    assert edited.code == 0, edited.err
    assert "committed shout.py" in edited.err
    log = memos("tools", "log", "--json").json()
    assert [e["summary"] for e in log[:2]] == ["Edit tool shout", "Add tool shout"]

    assert memos("tools", "run", "shout", '{"text": "hi"}').out == "HI!\n"
    piped = memos("tools", "run", "shout", input='{"text": "from stdin"}')
    assert piped.out == "FROM STDIN!\n"

    failing = memos("tools", "test")  # the template test expects the old behaviour
    assert failing.code == 1
    assert "1 failed" in failing.out
    report = memos("tools", "test", "--json").json()
    assert report["value"]["failed"] == 1
    assert report["value"]["tests"][0]["test"] == "tests/test_shout.py::test_shout_returns_its_input"

    (repo_of(memos_home) / "tests" / "test_shout.py").write_text(
        "from shout import shout\n\n\ndef test_shout() -> None:\n    assert shout('a') == 'A!'\n")
    assert memos("tools", "commit", "-m", "Fix the shout test").code == 0
    assert memos("tools", "test").code == 0

    removed = memos("tools", "rm", "shout", "--yes")
    assert removed.code == 0, removed.err
    assert not (repo_of(memos_home) / "shout.py").exists()
    assert "shout" not in {row["name"] for row in memos("tools", "list", "--json").json()}
    assert git.Repo(repo_of(memos_home)).head.commit.summary == "Remove tool shout"


def test_import_shows_schema_and_errors_reach_the_user(memos, tmp_path):
    assert memos("agents", "create", "ada").code == 0
    source = tmp_path / "weather.py"
    source.write_text(WEATHER)
    assert memos("tools", "import", str(source)).code == 0
    shown = memos("tools", "show", "weather", "--json").json()
    assert shown["parameters"]["properties"]["city"] == {"type": "string", "description": "The city's name, any case."}
    assert shown["parameters"]["required"] == ["city"]
    assert shown["commit"] and "FORECASTS" in shown["source"]

    assert memos("tools", "run", "weather", '{"city": "Oslo"}').out == "snow, -3 C\n"
    failed = memos("tools", "run", "weather", '{"city": "Atlantis"}')
    assert failed.code == 1
    assert failed.err.strip().splitlines()[-1] == "error: tool weather failed (exception): ValueError: no forecast for Atlantis"
    assert failed.err.count("no forecast for Atlantis") == 1  # said once, not twice (traceback tail + error)
    assert "weather.py" in failed.err  # the traceback points at the tool's file
    bad_json = memos("tools", "run", "weather", "{city: Oslo}")
    assert bad_json.code == 1 and "not valid JSON" in bad_json.err and "Traceback" not in bad_json.err
    unknown = memos("tools", "run", "weather", '{"town": "Oslo"}')
    assert unknown.code == 1 and "unknown: town" in unknown.err and "missing: city" in unknown.err
    assert memos("tools", "run", "nope").code == 1


def test_a_broken_file_is_reported_with_its_line_and_the_others_keep_working(memos, memos_home, tmp_path):
    assert memos("agents", "create", "ada").code == 0
    assert memos("tools", "new", "echo").code == 0
    broken = repo_of(memos_home) / "broken.py"
    broken.write_text('"""Broken."""\n\nimport os\n\nvalue = 1 / 0\n\n\ndef broken() -> str:\n    """Never."""\n    return ""\n')
    (repo_of(memos_home) / "nodoc.py").write_text("def nodoc(x: int) -> int:\n    return x\n")
    rows = {row["name"]: row for row in memos("tools", "list", "--json").json()}
    assert rows["broken"]["problem"] == "broken.py:5: ZeroDivisionError: division by zero"
    assert "no docstring" in rows["nodoc"]["problem"]
    assert memos("tools", "run", "echo", '{"text": "still fine"}').out == "still fine\n"
    refused = memos("tools", "commit")
    assert refused.code == 1 and "broken.py:5" in refused.err

    bad_import = tmp_path / "syntax.py"
    bad_import.write_text("def syntax(:\n    pass\n")
    result = memos("tools", "import", str(bad_import))
    assert result.code == 1 and f"{bad_import}:1" in result.err
    assert not (repo_of(memos_home) / "syntax.py").exists()


def test_attach_detach_and_hand_made_tools(memos, memos_home):
    assert memos("agents", "create", "ada").code == 0
    (repo_of(memos_home) / "greet.py").write_text(
        'def greet(name: str) -> str:\n    """Greet someone.\n\n    Args:\n        name: Who.\n    """\n'
        '    return f"hello {name}"\n')
    rows = {row["name"]: row for row in memos("tools", "list", "--json").json()}
    assert rows["greet"]["attached"] is False  # found, not yet offered to the agent
    committed = memos("tools", "commit", "--json").json()
    assert committed["attached"] == ["greet"] and committed["commit"]
    assert memos("tools", "detach", "greet").code == 0
    assert memos("tools", "detach", "greet").code == 1
    assert memos("tools", "attach", "greet").code == 0
    assert git.Repo(repo_of(memos_home)).head.commit.author.name == "memos"


def test_the_agent_calls_its_own_tool_in_the_sandbox(memos, chat_agent, fake_llm, memos_home, tmp_path):
    source = tmp_path / "weather.py"
    source.write_text(WEATHER)
    assert memos("tools", "import", str(source)).code == 0
    head = git.Repo(repo_of(memos_home)).head.commit.hexsha
    fake_llm.script(call("weather", city="Paris"), say("Sunny in Paris."),
                    call("weather", city="Atlantis"), say("No idea."))
    first = memos("send", "Weather in Paris?", "--json")
    assert first.code == 0, first.err
    offered = {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert "weather" in offered
    returns = [m for m in first.json()["messages"] if m["type"] == "tool_return"]
    assert returns[0]["status"] == "success" and returns[0]["result"] == "sunny, 21 C"

    second = memos("send", "And Atlantis?", "--json")
    error = [m for m in second.json()["messages"] if m["type"] == "tool_return"][0]
    assert error["status"] == "error"
    # Letta's words for an exception in a tool's code
    assert error["result"].startswith("Error executing function weather: ValueError: no forecast for Atlantis")

    from memos.core.workspace import Workspace

    ws = Workspace()
    calls = ws.store.list_tool_calls(ws.store.get_agent("ada").id, name="weather")
    ws.close()
    assert {c.status for c in calls} == {"success", "error"}
    assert {c.tool_commit for c in calls} == {head}  # recorded for shadow replay


def test_sandbox_info(memos):
    result = memos("tools", "sandbox-info", "--json")
    assert result.code == 0, result.err
    info = result.json()
    assert info["ok"] and "memory_bytes" in info["layers"]["rlimits"]
    text = memos("tools", "sandbox-info").out
    assert "Landlock filesystem" in text and "network namespace" in text


def test_approval_is_shown_and_set_per_agent_and_for_the_library(memos, chat_agent, fake_llm, memos_home, tmp_path):
    """`memos tools approval NAME on|off` for the agent (a built-in or its own tool) and with
    --library the shared tool's default, which reaches the agents that have it; a gated call then
    waits for `memos approve` (exit 3), and `memos tools show` says so."""
    source = tmp_path / "weather.py"
    source.write_text(WEATHER)
    assert memos("tools", "import", str(source)).code == 0
    assert memos("tools", "approval", "weather", "--json").json() == {
        "tool": "weather", "agent": "ada", "requires_approval": False}
    turned = memos("tools", "approval", "weather", "on")
    assert turned.code == 0 and "weather: asks before each call (agent 'ada')" in turned.err
    assert memos("tools", "show", "weather", "--json").json()["requires_approval"] is True
    assert "asks for approval before each call" in memos("tools", "show", "weather").err

    fake_llm.script(call("weather", city="Paris"), say("Sunny."))
    waiting = memos("send", "Weather in Paris?")
    assert waiting.code == 3, waiting.err  # waits for a person
    approved = memos("approve")
    assert approved.code == 0 and "Sunny." in approved.out

    assert memos("tools", "approval", "weather", "off").code == 0
    assert memos("tools", "approval", "memory_insert", "on", "--json").json()["requires_approval"] is True
    assert memos("tools", "approval", "memory_insert", "--json").json()["requires_approval"] is True
    bad = memos("tools", "approval", "weather", "maybe")
    assert bad.code == 1 and "neither on nor off" in bad.err
    missing = memos("tools", "approval", "nope", "on")
    assert missing.code == 1 and "has no tool named 'nope'" in missing.err

    from memos.core.workspace import Workspace
    from memos.tools import library

    ws = Workspace()
    library.save(ws, WEATHER.replace("def weather(", "def forecast("))
    library.attach(ws, ws.store.get_agent("ada"), library.library_tool(ws, "forecast"))
    ws.close()
    assert memos("tools", "approval", "forecast", "--json").json()["requires_approval"] is False
    shared = memos("tools", "approval", "forecast", "on", "--library", "--json")
    assert shared.code == 0 and shared.json() == {"tool": "forecast", "library": True, "requires_approval": True}
    assert memos("tools", "approval", "forecast", "--json").json()["requires_approval"] is True  # reached ada
    nowhere = memos("tools", "approval", "weather", "on", "--library")
    assert nowhere.code == 1 and "the tool library has no tool named 'weather'" in nowhere.err
