"""Hostile input to the API and the CLI: one clear refusal, nothing stored, nothing broken after.

On 6c4d22d: metadata nested ~260 levels was stored and then made every agent (or folder)
listing a 500; lone surrogates were 500s and a tool returning one failed its turn; invalid
UTF-8 in an argument ended in two tracebacks; NUL bytes were taken in a dozen fields (500s on
PostgreSQL, and `db migrate-to` failed on them later); and `Origin: http://localhost:3000`
passed the tokenless server's cross-origin check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from memos.core.workspace import Workspace
from tests.conftest import MEMOS_BIN, call, say


@pytest.fixture
def http(memos_home: Path):  # type: ignore[no-untyped-def]
    from memos.server.app import create_app

    ws = Workspace()
    with TestClient(create_app(ws), base_url="http://127.0.0.1:8283") as client:
        yield client
    ws.close()


@pytest.fixture
def agent_id(http: TestClient) -> str:
    made = http.post("/v1/agents/", json={"name": "ada", "model": "openai/fake-model"})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _nested(depth: int) -> dict:
    node: dict = {}
    top = node
    for _ in range(depth):
        node["n"] = {}
        node = node["n"]
    return top


def _refused_in_one_line(response, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (400, 422), (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    for word in words:
        assert word in detail, detail


@pytest.mark.parametrize("path", ["/v1/agents/", "/v1/folders/"])
def test_deeply_nested_metadata_is_refused_and_listing_still_works(http: TestClient, path: str) -> None:
    body = {"name": "deep", "metadata": _nested(260)}
    if path == "/v1/folders/":
        body["embedding"] = "letta/letta-free"
    refused = http.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    _refused_in_one_line(refused, "nested deeper than")
    very_deep = http.post(path, content=b'{"metadata": ' + b'[' * 100_000 + b']' * 100_000 + b'}',
                          headers={"content-type": "application/json"})
    _refused_in_one_line(very_deep, "nested deeper than")
    listed = http.get(path)
    assert listed.status_code == 200 and listed.json() == []


def test_lone_surrogates_are_refused_not_500s(http: TestClient, agent_id: str) -> None:
    raw = b'{"name": "bad \\ud800 name", "model": "openai/fake-model"}'
    _refused_in_one_line(http.post("/v1/agents/", content=raw, headers={"content-type": "application/json"}),
                         "lone surrogate")
    message = b'{"messages": [{"role": "user", "content": "hi \\udfff"}]}'
    _refused_in_one_line(http.post(f"/v1/agents/{agent_id}/messages", content=message,
                                   headers={"content-type": "application/json"}), "lone surrogate")
    key = b'{"metadata": {"\\ud800": 1}}'
    _refused_in_one_line(http.patch(f"/v1/agents/{agent_id}", content=key,
                                    headers={"content-type": "application/json"}), "a key in")


def _nul_requests(agent: str) -> list[tuple[str, str, dict]]:
    nul = "a\x00b"
    return [
        ("PATCH", f"/v1/agents/{agent}", {"tags": [nul]}),
        ("PATCH", f"/v1/agents/{agent}", {"metadata": {"k": nul}}),
        ("PATCH", f"/v1/agents/{agent}", {"model": nul}),
        ("PATCH", f"/v1/agents/{agent}", {"tool_rules": [{"type": "run_first", "tool_name": nul}]}),
        ("POST", "/v1/blocks/", {"label": nul, "value": "v"}),
        ("POST", "/v1/blocks/", {"label": "notes", "value": "v", "description": nul}),
        ("POST", "/v1/folders/", {"name": nul, "embedding": "letta/letta-free"}),
        ("POST", "/v1/folders/", {"name": "docs", "description": nul, "embedding": "letta/letta-free"}),
        ("POST", "/v1/conversations/", {"agent_id": agent, "summary": nul}),
        ("POST", f"/v1/agents/{agent}/archival-memory", {"text": "fact", "tags": [nul]}),
        ("POST", f"/v1/agents/{agent}/messages", {"messages": [{"role": "user", "content": "hi", "name": nul}]}),
        ("POST", "/v1/mcp-servers/", {"server_name": "web", "config": {"server_url": f"http://127.0.0.1:1/{nul}"}}),
        ("POST", "/v1/mcp-servers/", {"server_name": "web", "config": {"server_url": "http://127.0.0.1:1/",
                                                                       "custom_headers": {"X": nul}}}),
        ("POST", "/v1/mcp-servers/", {"server_name": "cmd", "config": {"command": "x", "args": [nul]}}),
        ("POST", "/v1/mcp-servers/", {"server_name": "cmd", "config": {"command": "x", "env": {"A": nul}}}),
    ]


def test_nul_bytes_are_refused_in_every_field(http: TestClient, agent_id: str) -> None:
    for method, path, body in _nul_requests(agent_id):
        response = http.request(method, path, json=body)
        _refused_in_one_line(response, "NUL byte")
    _refused_in_one_line(http.get("/v1/agents/", params={"name": "a\x00b"}), "NUL byte")
    assert [a["name"] for a in http.get("/v1/agents/").json()] == ["ada"]  # nothing half-made
    assert http.get("/v1/folders/").json() == [] and http.get("/v1/mcp-servers/").json() == []
    agent = http.get(f"/v1/agents/{agent_id}").json()
    assert agent["tags"] == [] and agent["metadata"] in ({}, None)


def test_a_page_on_another_localhost_port_cannot_use_a_tokenless_server(http: TestClient) -> None:
    for origin in ("http://localhost:3000", "http://127.0.0.1:8284", "null", "http://evil.example"):
        refused = http.post("/v1/agents/", json={"name": "x"}, headers={"origin": origin})
        assert refused.status_code == 403, origin
        upload = http.post("/v1/agents/import", files={"file": ("a.af", b"{}")}, headers={"origin": origin})
        assert upload.status_code == 403, origin
    own = http.post("/v1/agents/", json={"name": "docs page", "model": "openai/fake-model"},
                    headers={"origin": "http://127.0.0.1:8283"})  # the server's own /docs page
    assert own.status_code == 201
    assert [a["name"] for a in http.get("/v1/agents/").json()] == ["docs page"]


def test_an_argument_that_is_not_utf8_is_one_line_and_exit_2(memos_home: Path) -> None:
    done = subprocess.run([str(MEMOS_BIN).encode(), b"agents", b"create", b"caf\xe9"], capture_output=True,
                          timeout=60)
    assert done.returncode == 2
    err = done.stderr.decode("utf-8", "replace")
    assert err.count("\n") == 1 and "argument 3" in err and "not valid UTF-8" in err and "Traceback" not in err
    assert done.stdout == b""


def test_stdin_with_a_nul_byte_is_refused(memos) -> None:  # type: ignore[no-untyped-def]
    assert memos("agents", "create", "ada").code == 0
    refused = memos("memory", "set", "human", "-", input=b"Name: Ana\x00Eve")
    assert refused.code == 1 and "NUL byte" in refused.err and refused.err.count("\n") == 1
    assert "Eve" not in memos("memory", "show", "human").out


def test_a_tool_returning_a_lone_surrogate_or_nul_does_not_fail_the_turn(memos, fake_llm, memos_home) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import agent_dir

    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    assert memos("tools", "new", "odd").code == 0
    repo = agent_dir(memos_home, "ada") / "tools"
    (repo / "odd.py").write_text('def odd(text: str) -> str:\n    """Odd text.\n\n    Args:\n'
                                 '        text: anything\n    """\n    return "x\\ud800y\\x00z"\n')
    (repo / "tests" / "test_odd.py").unlink(missing_ok=True)
    assert memos("tools", "attach", "odd").code == 0
    fake_llm.script(call("odd", text="go"), say("Done."))
    sent = memos("send", "go", "--json")
    assert sent.code == 0, sent.err
    returns = [m for m in sent.json()["messages"] if m["type"] == "tool_return"]
    assert returns, sent.out
    assert "x\ufffdy\ufffdz" in json.dumps(returns[0], ensure_ascii=False), returns
    assert memos("messages", "search", "Done").code == 0
