"""Archives as Letta has them, through letta-client (strict validation) against a real `memos
serve`: passages shared by several agents, found by each agent's own search (and by its
archival_memory_search tool), searched across agents, detached and deleted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import letta_client
import pytest

from tests.conftest import call, say
from tests.e2e.test_serve import running_server


@pytest.fixture
def client(fake_llm) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with running_server() as url:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)


def _agent(client: Any, name: str) -> Any:
    return client.agents.create(name=name, model="openai/fake-model", memory_blocks=[
        {"label": "persona", "value": "I help."}])


def test_an_archive_is_shared_by_the_agents_it_is_attached_to(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    handbook = client.archives.create(name="handbook", description="How the team works")
    assert handbook.id.startswith("archive-") and handbook.embedding_config.embedding_dim == 384
    one = client.archives.passages.create(handbook.id, text="Deploys happen on Tuesdays after standup.",
                                          tags=["process"])
    assert one.archive_id == handbook.id and one.agent_id is None and one.tags == ["process"]
    many = client.archives.passages.create_many(handbook.id, passages=[
        {"text": "The on-call phone number is 555-0142."},
        {"text": "Expense reports are due on the 5th.", "created_at": "2026-01-05T09:00:00Z"}])
    assert len(many) == 2 and many[1].created_at.year == 2026 and many[1].created_at.month == 1

    ada, bob, cy = _agent(client, "ada"), _agent(client, "bob"), _agent(client, "cy")
    client.agents.passages.create(ada.id, text="Ada's own note: the VPN needs a token.")
    for agent in (ada, bob):
        client.agents.archives.attach(handbook.id, agent_id=agent.id)
    assert {a.name for a in client.archives.list(agent_id=ada.id)} == {"handbook"}
    assert [a.name for a in client.archives.list()] == ["handbook"]
    assert sorted(s.name for s in _agents_of(client, handbook.id)) == ["ada", "bob"]

    found = client.agents.passages.search(bob.id, query="when do we deploy")
    assert found.results[0].content == "Deploys happen on Tuesdays after standup."
    mine = client.agents.passages.search(ada.id, query="vpn token")
    assert mine.results[0].content.startswith("Ada's own note")
    assert all("Deploy" not in r.content for r in client.agents.passages.search(cy.id, query="deploy").results)

    fake_llm.script(call("archival_memory_search", query="on-call phone"), say("555-0142"))
    client.agents.messages.create(agent_id=bob.id, messages=[{"role": "user", "content": "on-call number?"}])
    tool_result = next(m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool")
    assert json.loads(tool_result["content"])[0]["content"] == "The on-call phone number is 555-0142."

    everywhere = client.passages.search(query="expense reports due")
    assert everywhere[0].passage.text == "Expense reports are due on the 5th."
    assert len([r for r in everywhere if r.passage.id == many[1].id]) == 1  # once, though two agents share it
    only = client.passages.search(query="deploy", archive_id=handbook.id)
    assert {r.passage.archive_id for r in only} == {handbook.id}

    renamed = client.archives.update(handbook.id, name="team handbook")
    assert client.archives.retrieve(handbook.id).name == renamed.name == "team handbook"
    client.archives.passages.delete(one.id, archive_id=handbook.id)
    with pytest.raises(letta_client.NotFoundError):
        client.archives.passages.delete(one.id, archive_id=handbook.id)
    assert "Deploys" not in " ".join(r.content for r in client.agents.passages.search(bob.id, query="deploy").results)

    client.agents.archives.detach(handbook.id, agent_id=bob.id)
    assert "555-0142" not in " ".join(r.content for r in client.agents.passages.search(bob.id, query="on-call").results)
    client.archives.delete(handbook.id)
    with pytest.raises(letta_client.NotFoundError):
        client.archives.retrieve(handbook.id)
    assert "555-0142" not in " ".join(r.content for r in client.agents.passages.search(ada.id, query="on-call").results)
    with pytest.raises(letta_client.NotFoundError):
        client.agents.archives.attach(handbook.id, agent_id=ada.id)


def _agents_of(client: Any, archive_id: str) -> list[Any]:
    return [letta_client.types.AgentState.model_validate(a)
            for a in client.get(f"/v1/archives/{archive_id}/agents", cast_to=object)]
