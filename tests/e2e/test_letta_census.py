"""Every method of letta-client 1.12.1 that a self-hosted server can serve is called by some test
against `memos serve` (the census), and the ones no other test calls are called here."""

from __future__ import annotations

import inspect
import io
import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import letta_client
import pytest

from tests.conftest import say
from tests.e2e.test_serve import running_server

TESTS = Path(__file__).resolve().parents[1]
# Letta Cloud's own services: a self-hosted Letta does not serve them either.
CLOUD = ("access_tokens.", "environments.", "templates.")


def client_methods(resource: Any, prefix: str = "") -> list[str]:
    """Every method of a letta-client resource and its sub-resources, as dotted paths."""
    found = []
    for name, member in inspect.getmembers(type(resource)):
        if name.startswith("_") or name in ("with_raw_response", "with_streaming_response"):
            continue
        if isinstance(member, cached_property):
            child = getattr(resource, name)
            if type(child).__module__.startswith("letta_client.resources"):
                found += client_methods(child, f"{prefix}{name}.")
        elif inspect.isfunction(member) and type(resource).__module__.startswith("letta_client.resources"):
            found.append(prefix + name)
    return found


def test_every_self_hosted_method_of_letta_client_is_called_by_a_test() -> None:
    methods = [m for m in client_methods(letta_client.Letta(base_url="http://127.0.0.1:1", api_key="x"))
               if not m.startswith(CLOUD)]
    assert len(methods) >= 110, methods  # the census would pass vacuously if the walk found nothing
    sources = "\n".join(path.read_text() for path in TESTS.rglob("test_*.py"))
    # `client.agents.blocks.detach(` counts for agents.blocks.detach, not for blocks.detach.
    uncalled = [m for m in methods if not re.search(r"(?<![.\w])\w+\." + re.escape(m) + r"\(", sources)]
    assert uncalled == [], f"letta-client methods no test calls against memos serve: {uncalled}"


@pytest.fixture
def client(fake_llm) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with running_server() as url:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)


def test_blocks_folders_files_messages_and_models_not_called_elsewhere(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = client.agents.create(name="ada", model="openai/fake-model",
                                 memory_blocks=[{"label": "persona", "value": "I help."}])
    notes = client.blocks.create(label="notes", value="Buy milk.")
    assert client.blocks.retrieve(notes.id).value == "Buy milk."
    client.agents.blocks.attach(notes.id, agent_id=agent.id)
    assert "notes" in {b.label for b in client.agents.blocks.list(agent.id)}
    client.agents.blocks.detach(notes.id, agent_id=agent.id)
    assert "notes" not in {b.label for b in client.agents.blocks.list(agent.id)}
    assert client.blocks.retrieve(notes.id).value == "Buy milk."  # detached, not deleted

    folder = client.folders.create(name="manuals")
    renamed = client.folders.update(folder.id, name="handbooks", description="How-tos")
    assert (renamed.name, renamed.description) == ("handbooks", "How-tos")
    uploaded = client.folders.files.upload(folder.id, file=("printer.md", io.BytesIO(b"# Printer\nCall Sam.\n"),
                                                            "text/markdown"))
    one = client.folders.files.retrieve(uploaded.id, folder_id=folder.id, include_content=True)
    assert one.file_name == "printer.md" and "Call Sam." in (one.content or "")
    client.agents.folders.attach(folder.id, agent_id=agent.id)
    assert list(client.folders.agents.list(folder.id)) == [agent.id]  # Letta lists the ids
    client.agents.files.open(uploaded.id, agent_id=agent.id)
    assert [f.is_open for f in client.agents.files.list(agent.id)] == [True]
    client.agents.files.close(uploaded.id, agent_id=agent.id)
    assert [f.is_open for f in client.agents.files.list(agent.id)] == [False]

    fake_llm.script(say("Hello, Sam."))
    reply = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
    said = next(m for m in reply.messages if m.message_type == "assistant_message")
    looked_up = client.messages.retrieve(said.id)
    assert [m.content for m in looked_up if m.message_type == "assistant_message"] == ["Hello, Sam."]
    with pytest.raises(letta_client.NotFoundError):
        client.messages.retrieve("message-00000000-0000-4000-8000-000000000000")

    handles = [m.handle for m in client.models.list()]
    assert "openai/fake-model" in handles or any(h.startswith("openai/") for h in handles)
