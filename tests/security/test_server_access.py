"""Who may call the server, and what the first round of hostile input found (moved here from
the e2e suites so the security suite holds both rounds): foreign Host names and origins,
tokens, body limits, NUL bytes, public addresses without a token, hostile agent files."""

from __future__ import annotations

import httpx
import letta_client
import pytest

from tests.e2e.test_agentfile import hostile_files
from tests.e2e.test_durability import agent_id
from tests.e2e.test_serve import running_server


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8283", "127.0.0.1.nip.io"])
def test_a_tokenless_server_refuses_foreign_host_names(memos, chat_agent, host):
    from fastapi.testclient import TestClient

    from memos.server.app import create_app

    client = TestClient(create_app(), base_url="http://127.0.0.1:8283")
    blocks = f"/v1/agents/{agent_id()}/core-memory/blocks/human"
    refused = client.patch(blocks, json={"value": "pwned"}, headers={"Host": host})
    assert refused.status_code == 403 and "Host" in refused.json()["detail"]
    cross = client.patch(blocks, json={"value": "pwned"}, headers={"Origin": "https://attacker.example"})
    assert cross.status_code == 403
    assert client.patch(blocks, json={"value": "fine"}, headers={"Host": "localhost:8283"}).status_code == 200
    assert client.get(blocks, headers={"Origin": "http://127.0.0.1:8283"}).status_code == 200
    assert memos("memory", "show", "human").out.strip() == "fine"


def test_the_bearer_scheme_is_case_insensitive_and_bodies_have_limits(memos, chat_agent):
    from fastapi.testclient import TestClient

    from memos.core.limits import MAX_REQUEST_BYTES
    from memos.server.app import create_app

    client = TestClient(create_app(token="s3cret"), base_url="http://127.0.0.1:8283")
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert client.get("/v1/agents/", headers={"Authorization": f"{scheme} s3cret"}).status_code == 200
    assert client.get("/v1/agents/", headers={"Authorization": "bearer S3CRET"}).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    huge = client.post("/v1/agents/", content=b"{" + b" " * (MAX_REQUEST_BYTES + 1) + b"}",
                       headers={**auth, "Content-Type": "application/json"})
    assert huge.status_code == 413 and "at most" in huge.json()["detail"]
    long_description = client.post("/v1/agents/", headers=auth,
                                   json={"name": "big", "description": "d" * 1_000_000})
    assert long_description.status_code == 422 and "description" in long_description.json()["detail"]
    nul = client.post("/v1/agents/", headers=auth, json={"name": "nul", "description": "a\u0000b"})
    assert nul.status_code == 422 and "NUL" in nul.json()["detail"]
    assert [a["name"] for a in client.get("/v1/agents/", headers=auth).json()] == ["ada"]  # nothing half-made


def test_nul_bytes_are_refused_the_same_way_everywhere(memos, chat_agent):
    from fastapi.testclient import TestClient

    from memos.server.app import create_app

    client = TestClient(create_app(), base_url="http://127.0.0.1:8283")
    blocks = f"/v1/agents/{agent_id()}/core-memory/blocks/human"
    patched = client.patch(blocks, json={"value": "a\u0000b"})
    assert patched.status_code == 422 and "NUL" in patched.json()["detail"]
    for args in (("send", "a\x00b"), ("archival", "add", "a\x00b"), ("memory", "set", "human", "a\x00b"),
                 ("messages", "add", "a\x00b")):
        result = memos(*args[:-1], "-", input=args[-1])
        assert result.code == 1 and "NUL byte" in result.err and "Traceback" not in result.err, (args, result.err)


def test_bearer_token_is_enforced(fake_llm) -> None:  # type: ignore[no-untyped-def]
    with running_server(env={"MEMOS_SERVER_TOKEN": "s3cret"}) as url:
        with httpx.Client(base_url=url) as http:
            assert http.get("/v1/agents/").status_code == 401
            wrong = http.get("/v1/agents/", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong bearer token"
            assert http.get("/v1/health/").status_code == 200  # probes need no token
        right = letta_client.Letta(base_url=url, api_key="s3cret", _strict_response_validation=True, max_retries=0)
        assert right.agents.list().items == []
        with pytest.raises(letta_client.AuthenticationError):
            letta_client.Letta(base_url=url, api_key="guess", max_retries=0).agents.list()


def test_refuses_public_address_without_token(memos) -> None:  # type: ignore[no-untyped-def]
    result = memos("serve", "--host", "0.0.0.0", "--port", "0", timeout=30)
    assert result.code == 1 and result.out == ""
    assert "refusing to serve on 0.0.0.0 without a token" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_hostile_files_fail_in_one_line_and_write_nothing(memos, memos_home, tmp_path):
    for name, (path, expected) in hostile_files(tmp_path).items():
        result = memos("agents", "import", str(path), "--name", "x")
        assert result.code == 2 or result.code == 1, (name, result)
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (name, result.err)
        assert "Traceback" not in result.err
    assert memos("agents", "list", "--json").json() == []
    agents_dir = memos_home / "agents"
    assert not agents_dir.exists() or list(agents_dir.iterdir()) == []
