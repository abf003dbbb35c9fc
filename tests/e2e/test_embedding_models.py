"""Embedding models per agent (issue 32): agents on 1536-, 768- and 384-dimension models in one
home, each finding its own passages through the CLI and letta-client; `memos archival reembed`
moving an agent between them, resumable after kill -9; retries, and one clear line when the model
cannot be reached. The remote models are the scripted server's /v1/embeddings (tests/fakellm.py:
OpenAI's and Ollama's API, vectors as wide as the model named), reached by memos's real client."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import letta_client
import pytest

from tests.conftest import MEMOS_BIN, both_backends
from tests.e2e.test_serve import running_server

FACTS = ["The user's dog is a border collie named Pixel.", "The user works as a marine biologist in Lisbon.",
         "The user is allergic to penicillin.", "The user plays the cello on weekends.",
         "The user's flat is on Rua Augusta, third floor."]
MODELS = {"big": ("openai/text-embedding-3-small", 1536), "mid": ("ollama/nomic-embed-text", 768),
          "small": ("local/all-MiniLM-L6-v2", 384)}


def _top(memos: Any, agent: str, query: str, mode: str = "vector") -> dict[str, Any]:
    found = memos("archival", "search", "--agent", agent, "--mode", mode, "-k", "1", "--json", query)
    assert found.code == 0, found.err
    return found.json()[0]


@pytest.mark.slow
@both_backends
def test_agents_on_three_widths_live_side_by_side(backend, memos, fake_llm, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", fake_llm.url.removesuffix("/v1"))  # Ollama's variable: no /v1
    for name, (model, _) in MODELS.items():
        assert memos("agents", "create", name, "--model", "openai/fake-model", "--embedding-model", model).code == 0
        added = memos("archival", "add", "--agent", name, "-", input="\n".join(FACTS) + "\n")
        assert added.code == 0, added.err
    widths = {request["model"]: len(request["input"]) for request in fake_llm.embedding_requests}
    assert widths == {"text-embedding-3-small": len(FACTS), "nomic-embed-text": len(FACTS)}  # the wire names
    for name, (model, _) in MODELS.items():
        assert _top(memos, name, "allergic to penicillin")["text"] == FACTS[2], name
        assert _top(memos, name, "which street is the flat on", mode="hybrid")["text"] == FACTS[4], name
        assert memos("archival", "stats", "--agent", name, "--json").json()["embedding_model"] == model


@pytest.mark.slow
@both_backends
def test_letta_client_agents_embed_with_the_model_they_name(backend, fake_llm, monkeypatch) -> None:
    """letta-client's agents.create(embedding="openai/text-embedding-3-small") then passages:
    what was a 422 ("this store holds 384-dim vectors") before."""
    with running_server() as url:
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        agents = {}
        for name, embedding in (("wide", "openai/text-embedding-3-small"), ("local", None)):
            agents[name] = client.agents.create(name=name, model="openai/fake-model", embedding=embedding,
                                                memory_blocks=[{"label": "human", "value": "x"}])
            for fact in FACTS:
                client.agents.passages.create(agent_id=agents[name].id, text=fact)
        assert agents["wide"].embedding_config.embedding_dim == 1536
        assert agents["local"].embedding_config.embedding_dim == 384
        for name, agent in agents.items():
            found = client.agents.passages.search(agent_id=agent.id, query="marine biologist job", top_k=1)
            assert found.results[0].content == FACTS[1], name
        folder = client.folders.create(name="notes", embedding="openai/text-embedding-3-small")
        assert folder.embedding_config.embedding_dim == 1536
    assert any(r["model"] == "text-embedding-3-small" for r in fake_llm.embedding_requests)


def test_an_agent_file_imports_onto_the_embedding_model_the_client_names(fake_llm, monkeypatch) -> None:
    """letta-client's agents.import_file(embedding=...) (was refused: "memos embeds archival
    memory with its own model"); a model this machine cannot reach is one clear 4xx."""
    with running_server() as url:
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        source = client.agents.create(name="source", model="openai/fake-model",
                                      memory_blocks=[{"label": "human", "value": "x"}])
        exported = client.agents.export_file(agent_id=source.id)
        document = exported if isinstance(exported, str) else json.dumps(exported)
        made = client.agents.import_file(file=("source.af", document.encode()), name="moved",
                                         embedding="openai/text-embedding-3-small")
        moved = client.agents.retrieve(agent_id=made.agent_ids[0])
        assert moved.embedding_config.embedding_dim == 1536
        client.agents.passages.create(agent_id=moved.id, text=FACTS[1])
        assert client.agents.passages.search(agent_id=moved.id, query="job", top_k=1).results[0].content == FACTS[1]
        assert any(r["model"] == "text-embedding-3-small" for r in fake_llm.embedding_requests)



def test_an_import_onto_a_model_this_machine_cannot_reach_is_one_line(memos, fake_llm, tmp_path) -> None:
    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    assert memos("agents", "export", "ada", "--output", str(tmp_path / "ada.af")).code == 0
    keyless = {"OPENAI_BASE_URL": "", "OPENAI_API_KEY": ""}
    refused = memos("agents", "import", str(tmp_path / "ada.af"), "--name", "bob",
                    "--embedding-model", "openai/text-embedding-3-small", env=keyless)
    assert refused.code != 0 and "Traceback" not in refused.err
    assert "cannot embed with openai/text-embedding-3-small: no API key for openai" in refused.err
    assert [a["name"] for a in memos("agents", "list", "--json").json()] == ["ada"]  # nothing half-imported

    made = memos("agents", "import", str(tmp_path / "ada.af"), "--name", "bob", "--embedding-model",
                 "openai/text-embedding-3-small")
    assert made.code == 0, made.err
    assert memos("agents", "show", "bob", "--json").json()["embedding_model"] == "openai/text-embedding-3-small"


@pytest.mark.slow
@both_backends
def test_reembed_moves_an_agent_to_another_model_and_search_still_finds(backend, memos, fake_llm) -> None:
    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    assert memos("archival", "add", "--agent", "ada", "-", input="\n".join(FACTS) + "\n").code == 0

    dry = memos("archival", "reembed", "--agent", "ada", "--model", "openai/text-embedding-3-small", "--dry-run",
                "--json")
    assert dry.code == 0 and dry.json()["to_embed"] == len(FACTS) and dry.json()["tokens"] > 0
    assert fake_llm.embedding_requests == []  # a dry run embeds nothing

    moved = memos("archival", "reembed", "--agent", "ada", "--model", "openai/text-embedding-3-small", "--json")
    assert moved.code == 0, moved.err
    assert moved.json() == {"agent": "ada", "model": "openai/text-embedding-3-small", "passages": len(FACTS),
                            "embedded": len(FACTS), "resumed": 0}
    assert memos("archival", "stats", "--agent", "ada", "--json").json()["embedding_model"] == \
        "openai/text-embedding-3-small"
    assert _top(memos, "ada", "allergic to penicillin")["text"] == FACTS[2]
    assert len(fake_llm.embedding_requests) == 2  # the passages, then the query

    back = memos("archival", "reembed", "--agent", "ada", "--model", "local/all-MiniLM-L6-v2")
    assert back.code == 0 and "now embeds with local/all-MiniLM-L6-v2" in back.err
    assert _top(memos, "ada", "what pet does the user have")["text"] == FACTS[0]


@pytest.mark.slow
@both_backends
def test_reembed_resumes_after_kill_9_and_search_works_meanwhile(backend, memos, fake_llm, memos_home) -> None:
    notes = [f"note {i}: the user mentioned topic number {i}" for i in range(700)]  # three batches of 256
    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    assert memos("archival", "add", "--agent", "ada", "-", input="\n".join(notes) + "\n").code == 0
    fake_llm.embedding_hold_after = 2  # the third batch hangs: the run is killed there
    run = subprocess.Popen([str(MEMOS_BIN), "archival", "reembed", "--agent", "ada", "--model",
                            "openai/text-embedding-3-small"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(fake_llm.embedding_requests) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake_llm.embedding_requests) == 3, run.stderr.read() if run.poll() is not None else "no third batch"
    run.send_signal(signal.SIGKILL)
    run.wait(30)
    fake_llm.embedding_hold_after = None
    fake_llm.embedding_gate.set()

    # Killed mid-run: still on the old model, and its search works as before
    assert memos("archival", "stats", "--agent", "ada", "--json").json()["embedding_model"] == "local/all-MiniLM-L6-v2"
    assert _top(memos, "ada", "note 123: topic number 123", mode="hybrid")["text"] == notes[123]
    plan = memos("archival", "reembed", "--agent", "ada", "--model", "openai/text-embedding-3-small", "--dry-run",
                 "--json").json()
    assert plan["to_embed"] == 700 - 2 * 256

    before = len(fake_llm.embedding_requests)
    done = memos("archival", "reembed", "--agent", "ada", "--model", "openai/text-embedding-3-small", "--json")
    assert done.code == 0, done.err
    assert done.json()["embedded"] == 700 - 2 * 256 and done.json()["resumed"] == 2 * 256
    assert sum(len(r["input"]) for r in fake_llm.embedding_requests[before:]) == 700 - 2 * 256
    assert _top(memos, "ada", "note 640: topic number 640", mode="hybrid")["text"] == notes[640]


@pytest.mark.slow
def test_an_unreachable_model_is_one_line_and_nothing_is_written(memos, fake_llm, monkeypatch) -> None:
    assert memos("agents", "create", "ada", "--model", "openai/fake-model", "--embedding-model",
                 "openai/text-embedding-3-small").code == 0
    fake_llm.embedding_failures = [429, 503]  # busy, then down for a moment: tried again
    assert memos("archival", "add", "--agent", "ada", FACTS[0]).code == 0
    assert len(fake_llm.embedding_requests) == 3

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    refused = memos("archival", "add", "--agent", "ada", FACTS[1])
    assert refused.code == 1
    assert refused.err.count("\n") <= 2 and "cannot reach the embedding model openai/text-embedding-3-small" in refused.err
    assert "Traceback" not in refused.err
    assert memos("archival", "stats", "--agent", "ada", "--json").json()["total"] == 1

    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url)
    fake_llm.embedding_failures = [401]
    failed = memos("archival", "reembed", "--agent", "ada", "--model", "openai/text-embedding-3-large")
    assert failed.code == 1 and "embedding with openai/text-embedding-3-large failed" in failed.err
    assert memos("archival", "stats", "--agent", "ada", "--json").json()["embedding_model"] == \
        "openai/text-embedding-3-small"


@pytest.mark.slow
def test_reembed_with_folders_moves_their_files_and_file_search_still_finds(memos, fake_llm, tmp_path) -> None:
    from tests.conftest import call, say

    manual = tmp_path / "printer.txt"
    manual.write_text("Paper jams: open tray two and pull gently.\n\n" * 5
                      + "If the printer catches fire, unplug it and call Sam on 555-0199.\n")
    assert memos("agents", "create", "ada", "--model", "openai/fake-model").code == 0
    assert memos("folders", "create", "manuals").code == 0
    assert memos("folders", "upload", "manuals", str(manual)).code == 0
    assert memos("folders", "attach", "manuals", "--agent", "ada").code == 0
    moved = memos("archival", "reembed", "--agent", "ada", "--model", "openai/text-embedding-3-small", "--folders",
                  "--json")
    assert moved.code == 0, moved.err
    assert moved.json()["folders"]["manuals"] >= 1
    (folder,) = memos("folders", "list", "--json").json()
    assert folder["embedding_model"] == "openai/text-embedding-3-small"

    fake_llm.script(call("semantic_search_files", query="printer fire"), say("Unplug it."))
    assert memos("send", "--agent", "ada", "Fire!").code == 0
    tool_result = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "call Sam on 555-0199" in tool_result


@pytest.mark.slow
def test_the_agents_own_memory_tools_embed_with_its_model_and_nothing_more(memos, fake_llm) -> None:
    """A turn that calls archival_memory_insert and _search embeds each text once with the agent's
    model (no warm-up call to a remote model), and finds what it stored."""
    from tests.conftest import call, say

    assert memos("agents", "create", "ada", "--model", "openai/fake-model", "--embedding-model",
                 "openai/text-embedding-3-small").code == 0
    fake_llm.script(call("archival_memory_insert", content="The user's locker code is 4471."),
                    call("archival_memory_search", query="locker code"), say("Stored and found."))
    sent = memos("send", "--agent", "ada", "remember my locker code 4471")
    assert sent.code == 0, sent.err
    assert [request["input"] for request in fake_llm.embedding_requests] == \
        [["The user's locker code is 4471."], ["locker code"]]
    searched = [m for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "4471" in searched
