"""Folders and files through letta-client (strict validation) against a real `memos serve`:
upload, attach, and an agent reading its files with Letta's file tools."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import letta_client
import pytest

from tests.conftest import call, say
from tests.e2e.test_serve import running_server

MANUAL = "\n".join(["# The printer manual"] + [f"Step {i}: press button {i}." for i in range(1, 40)]
                   + ["If the printer catches fire, unplug it and call Sam on 555-0199."]) + "\n"


@pytest.fixture
def client(fake_llm) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with running_server() as url:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)


def _agent(client: Any) -> Any:
    return client.agents.create(name="ada", model="openai/fake-model", memory_blocks=[
        {"label": "human", "value": "Name: Sam"}, {"label": "persona", "value": "I am Ada."}])


def _upload(client: Any, folder_id: str, name: str, text: str, **extra: Any) -> Any:
    return client.folders.files.upload(folder_id, file=(name, io.BytesIO(text.encode()), "text/markdown"), **extra)


def test_an_agent_reads_its_folders_files(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    folder = client.folders.create(name="manuals", description="Device manuals", instructions="Cite the step.")
    assert folder.id.startswith("source-") and folder.embedding_config.embedding_dim == 384
    uploaded = _upload(client, folder.id, "printer.md", MANUAL)
    assert uploaded.processing_status == "completed" and uploaded.total_chunks and uploaded.total_chunks >= 2
    again = _upload(client, folder.id, "printer.md", "v2\n")  # Letta's default: a new name
    assert again.file_name == "printer_1.md"
    assert [f.file_name for f in client.folders.files.list(folder.id)] == ["printer.md", "printer_1.md"]
    client.folders.files.delete(again.id, folder_id=folder.id)

    agent = _agent(client)
    assert list(client.agents.folders.list(agent.id)) == []
    client.agents.folders.attach(folder.id, agent_id=agent.id)
    assert [f.id for f in client.agents.folders.list(agent.id)] == [folder.id]
    assert [s.name for s in client.agents.retrieve(agent.id).sources] == ["manuals"]
    assert {"open_files", "grep_files", "semantic_search_files"} <= {t.name for t in client.agents.tools.list(agent.id)}
    files = list(client.agents.files.list(agent.id))
    assert [(f.file_name, f.is_open) for f in files] == [("manuals/printer.md", False)]

    fake_llm.script(
        call("grep_files", pattern="fire"),
        call("semantic_search_files", query="what to do when the printer burns"),
        call("open_files", file_requests=[{"file_name": "manuals/printer.md", "offset": 39, "length": 2}]),
        say("Unplug it and call Sam (step 40)."))
    reply = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "My printer is on fire!"}])
    returns = [m.tool_return for m in reply.messages if m.message_type == "tool_return_message"]
    assert "manuals/printer.md:41" in returns[0] and "> 41: If the printer catches fire" in returns[0]
    assert "call Sam on 555-0199" in returns[1]  # the closest chunk
    assert "Opened manuals/printer.md (lines 40-41)" in returns[2]

    first_prompt = fake_llm.requests[0]["messages"][0]["content"]
    assert '<directory name="manuals">' in first_prompt and "<instructions>Cite the step.</instructions>" in first_prompt
    assert '<file status="closed" name="manuals/printer.md">' in first_prompt
    last_prompt = fake_llm.requests[-1]["messages"][0]["content"]
    assert '<file status="open" name="manuals/printer.md">' in last_prompt
    assert "41: If the printer catches fire" in last_prompt and "3: Step 2" not in last_prompt
    (opened,) = client.agents.files.list(agent.id, is_open=True)
    assert (opened.start_line, opened.end_line) == (40, 41) and "call Sam" in (opened.visible_content or "")
    assert client.agents.files.close_all(agent.id) == ["manuals/printer.md"]
    assert list(client.agents.files.list(agent.id, is_open=True)) == []

    client.agents.folders.detach(folder.id, agent_id=agent.id)
    assert "grep_files" not in {t.name for t in client.agents.tools.list(agent.id)}
    client.folders.delete(folder.id)
    with pytest.raises(letta_client.NotFoundError):
        client.folders.retrieve(folder.id)


def test_folder_errors(client) -> None:  # type: ignore[no-untyped-def]
    folder = client.folders.create(name="docs")
    with pytest.raises(letta_client.ConflictError):
        client.folders.create(name="docs")
    with pytest.raises(letta_client.UnprocessableEntityError) as binary:
        client.folders.files.upload(folder.id, file=("photo.jpg", io.BytesIO(b"\xff\xd8\x00\x00JFIF"), "image/jpeg"))
    assert "looks binary" in binary.value.body["detail"]
    assert list(client.folders.files.list(folder.id)) == []
    _upload(client, folder.id, "a.txt", "one\n")
    with pytest.raises(letta_client.ConflictError):
        _upload(client, folder.id, "a.txt", "two\n", duplicate_handling="error")
    replaced = _upload(client, folder.id, "a.txt", "three\n", duplicate_handling="replace")
    kept = _upload(client, folder.id, "a.txt", "four\n", duplicate_handling="skip")
    assert kept.id == replaced.id  # skipped: the file already there
    listed = list(client.folders.files.list(folder.id, include_content=True))
    assert [(f.id, f.content) for f in listed] == [(replaced.id, "three\n")]
    with pytest.raises(letta_client.NotFoundError):
        client.folders.files.upload("source-00000000-0000-4000-8000-000000000000",
                                    file=("a.txt", io.BytesIO(b"x"), "text/plain"))
    agent = _agent(client)
    with pytest.raises(letta_client.NotFoundError):
        client.agents.folders.attach("source-00000000-0000-4000-8000-000000000000", agent_id=agent.id)


def test_folders_travel_in_agent_files(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import json

    from tests.e2e.test_agentfile import letta_errors

    folder = client.folders.create(name="manuals", description="Device manuals")
    _upload(client, folder.id, "printer.md", MANUAL)
    agent = _agent(client)
    client.agents.folders.attach(folder.id, agent_id=agent.id)
    (item,) = list(client.agents.files.list(agent.id))
    client.agents.files.open(item.file_id, agent_id=agent.id)

    exported = client.agents.export_file(agent.id)
    document = json.loads(exported) if isinstance(exported, str) else exported
    assert letta_errors(document) == []
    assert [s["name"] for s in document["sources"]] == ["manuals"]
    assert [f["file_name"] for f in document["files"]] == ["printer.md"] and "call Sam" in document["files"][0]["content"]
    (link,) = document["agents"][0]["files_agents"]
    assert link["is_open"] is True and link["file_name"] == "manuals/printer.md"

    # Into a server that has the folder: it is used as it is.
    copy = client.agents.import_file(file=("ada.af", json.dumps(document).encode()), append_copy_suffix=True)
    copied = copy.agent_ids[0]
    assert [f.id for f in client.agents.folders.list(copied)] == [folder.id]
    assert [f.is_open for f in client.agents.files.list(copied)] == [True]
    assert len(list(client.folders.list())) == 1

    # Into one that has not: the folder is made, its file chunked and searchable.
    client.agents.delete(copied)
    client.folders.delete(folder.id)
    again = client.agents.import_file(file=("ada.af", json.dumps(document).encode()), append_copy_suffix=True)
    made = list(client.agents.folders.list(again.agent_ids[0]))
    assert [f.name for f in made] == ["manuals"] and made[0].id != folder.id
    (stored,) = list(client.folders.files.list(made[0].id))
    assert stored.total_chunks and stored.total_chunks >= 2
    fake_llm.script(call("semantic_search_files", query="printer on fire"), say("Unplug it."))
    reply = client.agents.messages.create(again.agent_ids[0], messages=[{"role": "user", "content": "Fire!"}])
    (found,) = [m.tool_return for m in reply.messages if m.message_type == "tool_return_message"]
    assert "call Sam on 555-0199" in found
