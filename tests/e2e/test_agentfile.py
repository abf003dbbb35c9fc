"""Letta agent files in and out: Letta's published .af files import and their agents answer;
memos -> .af -> memos gives the same agent; exports pass Letta's own AgentFileSchema; hostile
files fail in one line with nothing written; letta-client's import_file/export_file work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import call, say

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = DATA / "agentfiles"
PUBLISHED = ["memgpt_agent.af", "memgpt_agent_with_convo.af", "customer_service.af", "deep_research_agent.af",
             "outreach_workflow_agent.af", "legacy_memgpt_agent_with_convo.af"]


def document(path: Path) -> dict[str, Any]:
    loaded = json.loads(path.read_text())
    return json.loads(loaded) if isinstance(loaded, str) else loaded


def letta_errors(exported: dict[str, Any]) -> list[str]:
    """What Letta 0.16.8's AgentFileSchema (from its OpenAPI document) finds wrong in a file."""
    schema = json.loads((DATA / "letta-0.16.8-agentfile.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(exported)]


def agent_state(ws: Any, name: str) -> dict[str, Any]:
    """Everything an agent is in memos, without ids and times of its own making."""
    from memos.tools.shared_code import tool_repo

    agent = ws.store.get_agent(name)
    repo = tool_repo(ws, agent)
    return {
        "settings": (agent.description, agent.system, agent.model, agent.embedding_model, agent.context_window,
                     agent.tool_rules, agent.metadata, agent.tags),
        "blocks": sorted((b.label, b.value, b.limit, b.description, b.read_only)
                         for b in ws.store.list_agent_blocks(agent.id)),
        "messages": [(m.role, m.content, m.name, m.tool_calls, m.tool_call_id, m.in_context, m.created_at)
                     for m in ws.store.list_messages(agent.id, order="asc", limit=10_000)],
        "tools": sorted((t.name, t.json_schema, t.source_code) for t in ws.store.list_agent_tools(agent.id)),
        "repo": {name: (repo.path / f"{name}.py").read_text() for name in repo.tool_names()},
    }


@pytest.mark.parametrize("filename", PUBLISHED)
def test_a_published_agent_file_imports_answers_and_comes_back_the_same(filename, memos, fake_llm, memos_home):
    source = document(FILES / filename)
    imported = memos("agents", "import", str(FILES / filename), "--name", "imported", "--model", "openai/fake-model",
                     "--json")
    assert imported.code == 0, imported.err
    report = imported.json()
    [agent] = report["agents"]
    file_agent = source["agents"][0] if "agents" in source else source
    blocks = source.get("blocks") or source.get("core_memory") or []
    assert agent["blocks"] == len(blocks)
    with_source = [t["name"] for t in source["tools"] if t.get("source_code") and "agent_state" not in t["source_code"]]
    assert sorted(agent["tools"]) == sorted(with_source)

    rules = file_agent.get("tool_rules") or []
    if isinstance(rules, list) and any(r.get("type") == "run_first" for r in rules):
        first = next(r["tool_name"] for r in rules if r.get("type") == "run_first")
        fake_llm.script(call(first, candidate_name="Ada"), {"content": "Hello from the imported agent."})
    else:
        fake_llm.script(say("Hello from the imported agent."))
    sent = memos("send", "--agent", "imported", "hello?")
    assert sent.code == 0, sent.err
    assert sent.out.strip() == "Hello from the imported agent."
    request = fake_llm.requests[-1]
    system = request["messages"][0]["content"]
    for block in blocks:
        assert block["value"].strip()[:40] in system  # the file's memory is in the prompt
    offered = {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert offered == {"retrieve_candidate"} if rules and filename.startswith("outreach") else \
        set(with_source) <= offered and "send_message" in offered
    if file_agent.get("system"):
        assert file_agent["system"].strip()[:60] in system

    exported = memos("agents", "export", "imported", "-o", str(memos_home / "out.af"))
    assert exported.code == 0, exported.err
    assert letta_errors(json.loads((memos_home / "out.af").read_text())) == []
    again = memos("agents", "import", str(memos_home / "out.af"), "--name", "again")
    assert again.code == 0, again.err

    from memos.core.workspace import Workspace

    ws = Workspace()
    try:
        assert agent_state(ws, "again") == agent_state(ws, "imported")
    finally:
        ws.close()


def test_the_legacy_file_keeps_its_history_with_tool_calls(memos, fake_llm):
    result = memos("agents", "import", str(FILES / "legacy_memgpt_agent_with_convo.af"), "--name", "sam",
                   "--model", "openai/fake-model")
    assert result.code == 0, result.err
    assert "older single-agent format" in result.err
    listed = memos("messages", "list", "--agent", "sam", "--json", "--limit", "200")
    assert listed.code == 0, listed.err
    messages = listed.json()
    roles = [m["role"] for m in messages]
    assert roles.count("tool") == 28 and roles.count("user") == 29 and "system" not in roles
    assert any("hi my name is actually sarah not chad" in m["content"] for m in messages)  # unwrapped
    calls = [c for m in messages for c in (m.get("tool_calls") or [])]
    assert any(c["name"] == "core_memory_replace" and "Sarah" in c["arguments"] for c in calls)

    fake_llm.script(say("Hi Sarah."))
    assert memos("send", "--agent", "sam", "who am I?").out.strip() == "Hi Sarah."
    sent = fake_llm.requests[-1]["messages"]
    ids = {c["id"] for m in sent for c in (m.get("tool_calls") or [])}
    answered = {m["tool_call_id"] for m in sent if m["role"] == "tool"}
    assert answered <= ids  # the history the model sees is well formed


def test_an_imported_workflow_follows_its_conditional_rule(memos, fake_llm):
    """outreach_workflow_agent.af: retrieve_candidate first, then evaluate_candidate, whose True
    or False picks send_email or reject as the only tool offered next."""
    assert memos("agents", "import", str(FILES / "outreach_workflow_agent.af"), "--name", "outreach",
                 "--model", "openai/fake-model").code == 0
    fake_llm.script(call("retrieve_candidate", candidate_name="Ada"), call("evaluate_candidate"),
                    {"content": "done"})
    sent = memos("send", "--agent", "outreach", "evaluate Ada")
    assert sent.code == 0, sent.err
    first, second, third = fake_llm.requests[-3:]
    assert [t["function"]["name"] for t in first["tools"]] == ["retrieve_candidate"]  # run_first
    assert [t["function"]["name"] for t in second["tools"]] == ["evaluate_candidate"]  # constrain_child_tools
    verdict = third["messages"][-1]["content"].lower()  # a Python bool, as memos's sandbox returns it
    assert verdict in ("true", "false")
    assert [t["function"]["name"] for t in third["tools"]] == ["send_email" if verdict == "true" else "reject"]


def test_what_memos_lacks_is_reported_and_given_back_on_export(memos, memos_home):
    result = memos("agents", "import", str(FILES / "deep_research_agent.af"), "--name", "deep")
    assert result.code == 0, result.err
    assert "memory (letta_memory_core), web_search (letta_builtin)" in result.err
    assert "create_research_plan.py:1: takes Letta's agent_state" in result.err
    tools = memos("tools", "list", "--agent", "deep", "--json").json()
    custom = {t["name"]: t for t in tools if t["kind"] == "custom"}
    assert set(custom) == {"create_research_plan", "reset_research"}  # in the repo, to be fixed there
    assert not any(t["attached"] for t in custom.values())
    exported = json.loads(memos("agents", "export", "deep").out)
    names = [t["name"] for t in exported["tools"]]
    assert "web_search" in names and "memory" in names
    assert exported["agents"][0]["agent_type"] == "letta_v1_agent"
    assert exported["agents"][0]["llm_config"]["model"] == "claude-sonnet-4-5-20250929"
    assert letta_errors(exported) == []
    nowhere = memos("agents", "export", "deep", "-o", str(memos_home / "missing" / "deep.af"))
    assert nowhere.code == 1 and "no directory" in nowhere.err and not (memos_home / "missing").exists()


def test_a_memos_agent_round_trips_exactly(workspace, memos, fake_llm):
    """A native agent with a custom tool, rules, tags, metadata, a shared block and a history
    with tool calls: export, import, and every part is the same (block history aside)."""
    from memos.agentfile.export import export_agent
    from memos.agentfile.importer import import_agent_file
    from memos.core.agents import create_agent, update_agent
    from memos.store.base import NewMessage
    from memos.tools.manage import import_tool, open_tools

    agent = create_agent(workspace, "native", model="groq/llama-3.1-8b-instant", tags=["support", "eu"],
                         metadata={"team": "blue", "nested": {"level": [1, 2]}})
    tool_file = workspace.home.root / "shout.py"
    tool_file.write_text('def shout(text: str) -> str:\n    """Say it loudly.\n\n    Args:\n        text: What.\n'
                         '    """\n    return text.upper()\n')
    tools = open_tools(workspace, agent)
    import_tool(tools, tool_file)
    tools.close()
    agent = update_agent(workspace, agent, tool_rules=[{"type": "run_first", "tool_name": "shout"},
                                                       {"type": "exit_loop", "tool_name": "send_message"}])
    workspace.store.append_messages(agent.id, [
        NewMessage("user", "shout hello"),
        NewMessage("assistant", "Shouting.", tool_calls=[{"id": "c1", "name": "shout", "arguments": '{"text": "hi"}'}]),
        NewMessage("tool", "HI", name="shout", tool_call_id="c1"),
        NewMessage("system", "Note: an earlier part of the conversation was summarised.", in_context=False),
        NewMessage("assistant", "HI")])
    exported = export_agent(workspace, agent)
    assert letta_errors(json.loads(json.dumps(exported))) == []
    import_agent_file(workspace, json.dumps(exported), source="native.af", name="copy")
    assert agent_state(workspace, "copy") == agent_state(workspace, "native")


def test_shared_blocks_stay_shared_and_groups_are_kept(workspace):
    from memos.agentfile.configs import KEPT
    from memos.agentfile.export import export_agent
    from memos.agentfile.importer import import_agent_file

    two = document(FILES / "memgpt_agent.af")
    twin = {**two["agents"][0], "id": "agent-1", "name": "memgpt_twin", "block_ids": ["block-0"]}
    two["agents"].append(twin)
    two["groups"] = [{"id": "group-0", "agent_ids": ["agent-0", "agent-1"], "description": "pair",
                      "manager_config": {"manager_type": "round_robin"}, "shared_block_ids": []}]
    report = import_agent_file(workspace, json.dumps(two), source="pair.af")
    first, second = (imported.agent for imported in report.agents)
    human = workspace.store.get_agent_block(first.id, "human")
    assert set(human.agent_ids) == {first.id, second.id}  # block-0, used by both, is one block
    assert workspace.store.get_agent_block(second.id, "human").id == human.id
    assert [b.label for b in workspace.store.list_agent_blocks(second.id)] == ["human"]
    assert any("1 groups in the file" in note for note in report.notes)
    assert first.metadata[KEPT]["groups"] == two["groups"]
    assert export_agent(workspace, first)["groups"] == two["groups"]


def test_a_failure_inside_the_import_leaves_nothing(workspace, monkeypatch):
    """The second agent's tool commit fails: the first agent, its blocks, messages and repo go too."""
    from memos.agentfile.importer import import_agent_file
    from memos.tools.repo import ToolRepo

    two = document(FILES / "customer_service.af")
    two["agents"].append({**two["agents"][0], "id": "agent-twin", "name": "second"})
    real_commit = ToolRepo.commit_all
    commits = []

    def failing(self, message, trailers=None):  # type: ignore[no-untyped-def]
        commits.append(message)
        if len(commits) == 4:  # start + import for the first agent, start of the second, then this
            raise OSError("disk full")
        return real_commit(self, message, trailers)

    monkeypatch.setattr(ToolRepo, "commit_all", failing)
    with pytest.raises(OSError, match="disk full"):
        import_agent_file(workspace, json.dumps(two), source="two.af")
    assert len(commits) == 4
    assert workspace.store.list_agents() == []
    assert workspace.store.list_blocks() == []
    assert list(workspace.home.agents_dir.iterdir()) == []


def hostile_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    base = document(FILES / "customer_service.af")
    files: dict[str, tuple[Path, str]] = {}

    def write(name: str, content: Any, expected: str) -> None:
        path = tmp / f"{name}.af"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        files[name] = (path, expected)

    huge = tmp / "huge.af"
    with huge.open("wb") as handle:  # 1 GB, sparse: nothing is read
        handle.truncate(1 << 30)
    files["huge"] = (huge, "is 1,024 MB; memos reads agent files up to 100 MB")
    write("deep", "[" * 200_000 + "]" * 200_000, "nested too deeply")
    write("deepish", {"agents": [{"name": "x", "metadata": json.loads('{"a":' * 100 + "1" + "}" * 100)}]},
          "nests deeper than 64 levels")
    write("dup_tools", {**base, "tools": base["tools"] + [{**base["tools"][0], "id": "tool-99"}]},
          "has two tools named")
    evil = {**base["tools"][0], "name": "../../x", "source_code": "def x():\n    pass\n"}
    write("path_name", {**base, "tools": [*base["tools"], {**evil, "id": "tool-98"}]},
          "tool '../../x' cannot be imported")
    over = [{**b, "limit": 10} if b["label"] == "persona" else b for b in base["blocks"]]
    write("over_limit", {**base, "blocks": over}, "the persona text is 398 chars, limit 10")
    write("not_json", "{ nope", "is not valid JSON")
    write("not_agent", {"hello": 1}, "is not a Letta agent file")
    write("missing_block", {**base, "blocks": []}, "which the file does not have")
    return files



def test_letta_client_imports_and_exports(fake_llm, memos_home):
    import letta_client

    from tests.e2e.test_serve import running_server

    with running_server() as url:
        client = letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)
        with (FILES / "customer_service.af").open("rb") as handle:
            imported = client.agents.import_file(file=handle)
        [agent_id] = imported.agent_ids
        agent = client.agents.retrieve(agent_id)
        assert agent.name == "customer_service_copy"  # Letta appends _copy unless told otherwise
        assert {"cancel_order", "check_order_status", "escalate", "terminate_chat"} <= {t.name for t in agent.tools}

        text = client.agents.export_file(agent_id)
        exported = json.loads(text)
        assert letta_errors(exported) == []
        assert exported["agents"][0]["name"] == "customer_service_copy"
        scrubbed = json.loads(client.agents.export_file(agent_id, scrub_messages=True))
        assert scrubbed["agents"][0]["messages"] == []
        import httpx

        skill = {"name": "slack", "source_url": "letta:slack"}
        posted = httpx.post(f"{url}/v1/agents/{agent_id}/export", json={"skills": [skill], "scrub_messages": True})
        assert posted.status_code == 200 and posted.json()["skills"] == [skill]
        assert letta_errors(posted.json()) == []

        again = client.agents.import_file(file=("back.af", text.encode()), name="back", strip_messages=True,
                                          model="openai/fake-model")
        back = client.agents.retrieve(again.agent_ids[0])
        assert back.name == "back"
        fake_llm.script(say("Order 7 is on its way."))
        reply = client.agents.messages.create(agent_id=back.id, messages=[{"role": "user", "content": "order 7?"}])
        assert any(getattr(m, "content", None) == "Order 7 is on its way." for m in reply.messages)

        with pytest.raises(letta_client.UnprocessableEntityError) as secret:
            client.agents.import_file(file=("s.af", text.encode()), secrets='{"API_KEY": "sk-1"}')
        assert "does not store tool secrets" in str(secret.value.body)
        with pytest.raises(letta_client.BadRequestError) as bad:
            client.agents.import_file(file=("bad.af", b"{ nope"))
        assert "not valid JSON" in str(bad.value.body)
        assert [a.name for a in client.agents.list()] .count("back") == 1


@pytest.mark.parametrize("model", ["gpt-4o-mini", "my-proxy/llama-3", "gemini/gemini-2.0-flash", "ollama_chat/llama3.1"])
def test_a_model_name_comes_back_exactly(workspace, model):
    """The export's llm_config says the exact litellm name in `handle`; a name without a provider
    prefix memos knows (a bare OpenAI name, an OpenAI-compatible proxy's) must not gain one."""
    from memos.agentfile.export import export_agent
    from memos.agentfile.importer import import_agent_file
    from memos.core.agents import create_agent

    agent = create_agent(workspace, "ada", model=model)
    exported = export_agent(workspace, agent)
    assert letta_errors(json.loads(json.dumps(exported))) == []
    import_agent_file(workspace, json.dumps(exported), source="ada.af", name="copy")
    assert workspace.store.get_agent("copy").model == model
