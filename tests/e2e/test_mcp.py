"""Tools from MCP servers: a stdio server and a streamable-HTTP one (tests/mcp_server.py, built on
the official SDK) are added with `memos mcp add`, their tools attached and called in `memos send`
turns through the scripted LLM; a server that crashes, hangs or garbles its stream gives the agent a
clear tool error and the turn goes on; secrets stay out of config.toml and out of the server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import call, say

SERVER = str(Path(__file__).resolve().parents[1] / "mcp_server.py")


def orphaned_servers() -> list[int]:
    """stdio test servers whose memos process is gone (reparented to init): none may be left."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if SERVER.encode() in args and b"http" not in args and b"sse" not in args and parent == 1:
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def no_server_outlives_memos() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 15
    while orphaned_servers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert orphaned_servers() == [], "an MCP server process outlived the memos process that started it"


def tool_results(fake_llm) -> list[str]:  # type: ignore[no-untyped-def]
    """The tool results the model was shown, in order (from the last request)."""
    return [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"]


def recorded_calls(name: str) -> list[tuple[str, str]]:
    from memos.core.workspace import Workspace

    ws = Workspace()
    try:
        agent = ws.store.get_agent(name)
        return [(c.name, c.status) for c in reversed(ws.store.list_tool_calls(agent.id))]
    finally:
        ws.close()


@pytest.fixture
def weather(memos, chat_agent) -> str:  # type: ignore[no-untyped-def]
    added = memos("mcp", "add", "weather", "--timeout", "3", "--", sys.executable, SERVER)
    assert added.code == 0, added.err
    assert "with 6 tools" in added.err
    return chat_agent


def test_a_stdio_server_s_tool_is_listed_attached_and_called_in_a_turn(memos, fake_llm, weather):
    listed = {r["name"]: r for r in memos("tools", "list", "--agent", weather, "--json").json()}
    assert listed["mcp:weather/forecast"]["kind"] == "mcp" and not listed["mcp:weather/forecast"]["attached"]
    attached = memos("tools", "attach", "mcp:weather/forecast", "--agent", weather)
    assert attached.code == 0 and "the model calls it forecast" in attached.err

    fake_llm.script(call("forecast", city="Oslo", days=2), say("Sunny, two days."))
    sent = memos("send", "--agent", weather, "weather in Oslo?")
    assert sent.code == 0, sent.err
    assert sent.out.strip() == "Sunny, two days."
    offered = {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert "forecast" in offered and "crash" not in offered  # only what is attached, by its own name (as Letta)
    assert tool_results(fake_llm) == ["Sunny in Oslo for 2 day(s)"]
    assert recorded_calls(weather)[0] == ("forecast", "success")

    # A second server's tool of the same name gets the server-qualified name.
    assert memos("mcp", "add", "weather2", "--", sys.executable, SERVER).code == 0
    second = memos("tools", "attach", "mcp:weather2/forecast", "--agent", weather)
    assert second.code == 0 and "the model calls it mcp__weather2__forecast" in second.err
    assert memos("tools", "detach", "mcp:weather2/forecast", "--agent", weather).code == 0
    assert memos("tools", "detach", "mcp:weather/forecast", "--agent", weather).code == 0
    fake_llm.script(say("No tools."))
    memos("send", "--agent", weather, "again")
    assert "forecast" not in {t["function"]["name"] for t in fake_llm.requests[-1]["tools"]}


def test_a_server_that_crashes_hangs_or_garbles_gives_a_tool_error_and_the_turn_goes_on(memos, fake_llm, weather):
    for tool in ("crash", "hang", "garble", "fail", "forecast"):
        assert memos("tools", "attach", f"mcp:weather/{tool}", "--agent", weather).code == 0
    fake_llm.script(call("crash"), call("forecast", city="Bergen"),
                    call("hang"), call("garble"),
                    call("fail", reason="no data for Mars"), call("forecast", city="Oslo"),
                    say("Done despite the server."))
    started = time.monotonic()
    sent = memos("send", "--agent", weather, "try everything")
    assert sent.code == 0, sent.err
    assert sent.out.strip() == "Done despite the server."
    crashed, after_crash, hung, garbled, failed, recovered = tool_results(fake_llm)
    assert crashed.startswith("Error:") and "MCP server weather" in crashed
    assert after_crash == "Sunny in Bergen for 1 day(s)"  # started afresh
    assert "did not answer a call of hang within 3 s" in hung
    assert garbled.startswith("Error:") and "weather" in garbled
    assert "no data for Mars" in failed and failed.startswith("Error:")
    assert recovered == "Sunny in Oslo for 1 day(s)"
    statuses = [status for _, status in recorded_calls(weather)[:6]]
    assert statuses == ["error", "success", "error", "error", "error", "success"]
    assert time.monotonic() - started < 60
    assert "Traceback" not in sent.err and "JSONRPC" not in sent.err  # the SDK's log goes to a file


def test_secrets_stay_out_of_the_config_and_out_of_the_server(memos, fake_llm, chat_agent, memos_home, monkeypatch):
    monkeypatch.setenv("MCP_TEST_SECRET", "s3cret-value")
    assert memos("mcp", "add", "envy", "--env", "MCP_TEST_SECRET", "--env", "MCP_TEST_MODE=fast",
                 "--", sys.executable, SERVER).code == 0
    assert memos("tools", "attach", "mcp:envy/environment", "--agent", chat_agent).code == 0
    fake_llm.script(call("environment", variable="MCP_TEST_SECRET"),
                    call("environment", variable="MCP_TEST_MODE"),
                    call("environment", variable="OPENAI_API_KEY"), say("ok"))
    assert memos("send", "--agent", chat_agent, "env?").code == 0
    # named: memos's value; NAME=VALUE: that value; memos's own provider key: not passed
    assert tool_results(fake_llm) == ["s3cret-value", "fast", "(unset)"]
    config = (memos_home / "config.toml").read_text()
    assert "MCP_TEST_SECRET" in config and "s3cret-value" not in config

    refused = {
        "remote URL": (["mcp", "add", "far", "--url", "http://example.com/mcp"], "not this machine"),
        "secret header": (["mcp", "add", "h", "--url", "http://127.0.0.1:9/mcp", "--header", "Authorization=Bearer sk-1"],
                          "would write a secret"),
        "secret env value": (["mcp", "add", "v", "--env", "API_KEY=sk-1", "--", sys.executable, SERVER],
                             "API_KEY looks like a secret"),
        "no command": (["mcp", "add", "nothing"], "either a command"),
        "bad command": (["mcp", "add", "gone", "--", "/nonexistent/server"], "MCP server gone stopped"),
        "bad name": (["mcp", "add", "a/b", "--", sys.executable, SERVER], "not a valid MCP server name"),
    }
    for what, (argv, expected) in refused.items():
        result = memos(*argv)
        lines = result.err.strip().splitlines()
        assert result.code != 0 and len(lines) == 1 and expected in lines[0], (what, result.err)
    assert [s["name"] for s in memos("mcp", "list", "--json").json()] == ["envy"]  # nothing half-added

    assert memos("mcp", "rm", "envy", "--yes").code == 0
    assert "mcp:envy/environment" not in {r["name"] for r in memos("tools", "list", "--agent", chat_agent,
                                                                    "--json").json()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["http", "sse"])
def http_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test server over streamable HTTP (…/mcp) or the older SSE transport (…/sse)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, SERVER, request.param, str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "the MCP test server exited"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/{'mcp' if request.param == 'http' else 'sse'}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_streamable_http_server_works_the_same(memos, fake_llm, chat_agent, http_server, memos_home, monkeypatch):
    monkeypatch.setenv("MCP_TEST_TOKEN", "t0ken")
    sse = ["--sse"] if http_server.endswith("/sse") else []
    added = memos("mcp", "add", "web", "--url", http_server, *sse, "--header", "Authorization=Bearer ${MCP_TEST_TOKEN}")
    assert added.code == 0, added.err
    assert "t0ken" not in (memos_home / "config.toml").read_text()
    assert memos("tools", "attach", "mcp:web/forecast", "--agent", chat_agent).code == 0
    fake_llm.script(call("forecast", city="Lima"), say("Sunny in Lima."))
    sent = memos("send", "--agent", chat_agent, "Lima?")
    assert sent.code == 0, sent.err
    assert tool_results(fake_llm) == ["Sunny in Lima for 1 day(s)"]
    shown = memos("mcp", "show", "web", "--json").json()
    assert shown["transport"] == ("sse" if sse else "http")
    assert "mcp:web/forecast" in [t["name"] for t in shown["tools"]]


def test_letta_client_manages_mcp_servers(fake_llm, memos_home):
    import letta_client

    from tests.e2e.test_serve import running_server

    with running_server() as url:  # no token: a client may not make memos run a command
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        with pytest.raises(letta_client.PermissionDeniedError) as refused:
            client.mcp_servers.create(server_name="weather", config={
                "mcp_server_type": "stdio", "command": sys.executable, "args": [SERVER]})
        assert "--allow-mcp-stdio" in str(refused.value.body) and client.mcp_servers.list() == []
    with running_server(env={"MEMOS_SERVER_TOKEN": "s3cret"}) as url:  # with a token it may
        client = letta_client.Letta(base_url=url, api_key="s3cret", _strict_response_validation=True, max_retries=0)
        created = client.mcp_servers.create(server_name="weather", config={
            "mcp_server_type": "stdio", "command": sys.executable, "args": [SERVER]})
        assert created.server_name == "weather"
        assert [s.server_name for s in client.mcp_servers.list()] == ["weather"]
        tools = {t.name: t for t in client.mcp_servers.tools.list(created.id)}
        assert tools["forecast"].tool_type == "external_mcp"
        ran = client.mcp_servers.tools.run(tools["forecast"].id, mcp_server_id=created.id, args={"city": "Rome"})
        assert ran.status == "success" and ran.func_return == "Sunny in Rome for 1 day(s)"
        one = client.mcp_servers.tools.retrieve(tools["forecast"].id, mcp_server_id=created.id)
        assert one.name == "forecast" and one.id == tools["forecast"].id
        refreshed = client.mcp_servers.refresh(created.id)
        assert refreshed["removed"] == [] and refreshed["total"] == len(tools)
        changed = client.mcp_servers.update(created.id, config={"mcp_server_type": "stdio", "command": sys.executable,
                                                                "args": [SERVER], "env": {"UNITS": "metric"}})
        assert changed.env == {"UNITS": "metric"} and client.mcp_servers.retrieve(created.id).env == {"UNITS": "metric"}

        agent = client.agents.create(name="ada", model="openai/fake-model",
                                     memory_blocks=[{"label": "human", "value": "Name: Sam"}])
        client.agents.tools.attach(tools["forecast"].id, agent_id=agent.id)
        assert "forecast" in {t.name for t in client.agents.retrieve(agent.id).tools}
        fake_llm.script(call("forecast", city="Rome"), say("Sunny in Rome."))
        reply = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "Rome?"}])
        returns = [m for m in reply.messages if m.message_type == "tool_return_message"]
        assert returns and returns[0].tool_return == "Sunny in Rome for 1 day(s)"

        kept = client.mcp_servers.create(server_name="elsewhere", config={
            "mcp_server_type": "stdio", "command": "python", "args": ["-m", "no_such_mcp_server"],
            "env": {"PYTHONPATH": "/usr/local/lib"}})  # as Letta: kept although it cannot start now
        assert client.mcp_servers.retrieve(kept.id).env == {"PYTHONPATH": "/usr/local/lib"}
        client.mcp_servers.delete(kept.id)
        with_tools = client.agents.create(name="bea", model="openai/fake-model", tool_ids=[tools["forecast"].id])
        assert "forecast" in {t.name for t in with_tools.tools}

        with pytest.raises(letta_client.UnprocessableEntityError) as secret:
            client.mcp_servers.create(server_name="keyed", config={
                "mcp_server_type": "stdio", "command": sys.executable, "args": [SERVER], "env": {"API_KEY": "sk-1"}})
        assert "never writes the value of API_KEY" in str(secret.value.body)
        client.mcp_servers.delete(created.id)
        assert client.mcp_servers.list() == []
        assert "forecast" not in {t.name for t in client.agents.retrieve(agent.id).tools}
        assert "forecast" not in {t.name for t in client.agents.retrieve(with_tools.id).tools}


def test_an_agent_with_mcp_tools_exports_and_imports_with_them(memos, weather, memos_home):
    from memos.core.workspace import Workspace
    from tests.e2e.test_agentfile import agent_state, letta_errors

    assert memos("tools", "attach", "mcp:weather/forecast", "--agent", weather).code == 0
    assert memos("agents", "update", weather, "--tool-rule",
                 '{"type": "run_first", "tool_name": "forecast"}').code == 0
    exported = memos("agents", "export", weather, "-o", str(memos_home / "w.af"))
    assert exported.code == 0, exported.err
    document = __import__("json").loads((memos_home / "w.af").read_text())
    assert letta_errors(document) == []
    [server] = document["mcp_servers"]
    assert server["server_name"] == "weather" and server["stdio_config"]["args"] == [SERVER]
    tool = next(t for t in document["tools"] if t["tool_type"] == "external_mcp")
    assert tool["metadata_"]["mcp"] == {"server_name": "weather", "tool_name": "forecast"}

    guarded = memos("agents", "import", str(memos_home / "w.af"), "--name", "guarded")
    assert guarded.code == 0, guarded.err
    assert "tool forecast of this machine's MCP server weather not attached" in guarded.err
    assert "--allow-local-tools" in guarded.err
    listed = {t["name"]: t for t in memos("tools", "list", "--agent", "guarded", "--json").json()}
    assert not listed["mcp:weather/forecast"]["attached"]
    imported = memos("agents", "import", str(memos_home / "w.af"), "--name", "copy", "--allow-local-tools")
    assert imported.code == 0, imported.err
    assert "mcp" not in imported.err  # the server is configured here: nothing left out
    ws = Workspace()
    try:
        assert agent_state(ws, "copy") == agent_state(ws, weather)
    finally:
        ws.close()
