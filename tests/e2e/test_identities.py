"""Identities as Letta has them, against a real `memos serve`: created, upserted by key, changed
(properties merged or replaced), attached to agents and blocks, agents listed by identity, and
deleted; through raw HTTP (letta-client 1.12.1 has only the attach and detach) and letta-client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import letta_client
import pytest

from tests.e2e.test_serve import running_server


@pytest.fixture
def served(fake_llm) -> Iterator[tuple[Any, httpx.Client]]:  # type: ignore[no-untyped-def]
    with running_server() as url, httpx.Client(base_url=url, timeout=60) as http:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0), http


def _agent(client: Any, name: str, **extra: Any) -> Any:
    return client.agents.create(name=name, model="openai/fake-model", memory_blocks=[
        {"label": "persona", "value": "I help."}], **extra)


def test_an_identity_is_made_changed_and_listed_with_its_agents(served) -> None:  # type: ignore[no-untyped-def]
    client, http = served
    made = http.post("/v1/identities/", json={
        "identifier_key": "user-42", "name": "Sam Lee", "identity_type": "user",
        "properties": [{"key": "plan", "value": "pro", "type": "string"}, {"key": "seats", "value": 3, "type": "number"}]})
    assert made.status_code == 200, made.text
    sam = made.json()
    assert sam["id"].startswith("identity-") and sam["agent_ids"] == [] and len(sam["properties"]) == 2
    taken = http.post("/v1/identities/", json={"identifier_key": "user-42", "name": "x", "identity_type": "user"})
    assert taken.status_code == 409 and "user-42" in taken.json()["detail"]
    bad = http.post("/v1/identities/", json={"identifier_key": "k", "name": "x", "identity_type": "robot"})
    assert bad.status_code == 422

    ada = _agent(client, "ada", identity_ids=[sam["id"]])
    assert [i.identifier_key for i in ada.identities] == ["user-42"] and ada.identity_ids == [sam["id"]]
    bob = _agent(client, "bob")
    assert bob.identities == []
    with pytest.raises(letta_client.NotFoundError):  # an unknown identity: no agent is made
        _agent(client, "cy", identity_ids=["identity-00000000-0000-4000-8000-000000000000"])
    assert [a.name for a in client.agents.list()] == ["bob", "ada"]

    attached = client.agents.identities.attach(sam["id"], agent_id=bob.id)
    assert attached is not None
    assert [a.name for a in client.agents.list(identity_id=sam["id"], order="asc")] == ["ada", "bob"]
    assert [a["name"] for a in http.get(f"/v1/identities/{sam['id']}/agents").json()] == ["bob", "ada"]
    client.agents.identities.detach(sam["id"], agent_id=bob.id)
    assert [a.name for a in client.agents.list(identifier_keys=["user-42"])] == ["ada"]
    assert http.get("/v1/agents/count", params={"identity_id": sam["id"]}).json() == 1

    merged = http.patch(f"/v1/identities/{sam['id']}", json={
        "name": "Sam L.", "properties": [{"key": "plan", "value": "team", "type": "string"}], "agent_ids": [bob.id]}).json()
    assert merged["name"] == "Sam L." and sorted(merged["agent_ids"]) == sorted([ada.id, bob.id])
    assert {p["key"]: p["value"] for p in merged["properties"]} == {"plan": "team", "seats": 3}
    replaced = http.put(f"/v1/identities/{sam['id']}/properties",
                        json=[{"key": "vip", "value": True, "type": "boolean"}]).json()
    assert replaced["properties"] == [{"key": "vip", "value": True, "type": "boolean"}]

    upserted = http.put("/v1/identities/", json={"identifier_key": "user-42", "name": "Samuel", "identity_type": "user",
                                                 "agent_ids": [bob.id]}).json()
    assert upserted["id"] == sam["id"] and upserted["name"] == "Samuel" and upserted["agent_ids"] == [bob.id]
    org = http.put("/v1/identities/", json={"identifier_key": "acme", "name": "Acme", "identity_type": "org"}).json()
    assert org["id"] != sam["id"]
    assert [i["identifier_key"] for i in http.get("/v1/identities/").json()] == ["acme", "user-42"]
    assert [i["name"] for i in http.get("/v1/identities/", params={"identity_type": "org"}).json()] == ["Acme"]
    assert http.get("/v1/identities/count").json() == 2
    assert http.get(f"/v1/identities/{org['id']}").json()["name"] == "Acme"

    client.agents.update(ada.id, identity_ids=[org["id"]])
    assert [i.name for i in client.agents.retrieve(ada.id).identities] == ["Acme"]
    assert http.delete(f"/v1/identities/{org['id']}").status_code == 200
    assert client.agents.retrieve(ada.id).identities == []
    assert http.get(f"/v1/identities/{org['id']}").status_code == 404


def test_blocks_belong_to_identities_and_are_listed_by_them(served) -> None:  # type: ignore[no-untyped-def]
    client, http = served
    shared = client.blocks.create(label="team", value="We ship on Fridays.")
    other = client.blocks.create(label="notes", value="-")
    acme = http.post("/v1/identities/", json={"identifier_key": "acme", "name": "Acme", "identity_type": "org",
                                              "block_ids": [shared.id]}).json()
    assert acme["block_ids"] == [shared.id]
    assert http.patch(f"/v1/blocks/{other.id}/identities/attach/{acme['id']}").json()["id"] == other.id
    listed = http.get(f"/v1/identities/{acme['id']}/blocks", params={"order": "asc"}).json()
    assert [b["label"] for b in listed] == ["team", "notes"]
    assert sorted(b.label for b in client.blocks.list(identity_id=acme["id"])) == ["notes", "team"]
    http.patch(f"/v1/blocks/{other.id}/identities/detach/{acme['id']}")
    assert [b.label for b in client.blocks.list(identifier_keys=["acme"])] == ["team"]
    client.blocks.delete(shared.id)
    assert http.get(f"/v1/identities/{acme['id']}").json()["block_ids"] == []
    missing = http.patch(f"/v1/blocks/block-00000000-0000-4000-8000-000000000000/identities/attach/{acme['id']}")
    assert missing.status_code == 404
