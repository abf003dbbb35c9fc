"""Routes and behaviours Letta's own client tests rely on, through letta-client (strict
validation) against a real `memos serve`: deleting, changing and running tools, agent tags,
system messages in a request, include_return_message_types, tools named test*."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import letta_client
import pytest

from tests.conftest import agent_dir, call, say
from tests.e2e.test_serve import running_server

SHOUT = '''def shout(text: str) -> str:
    """Say it loudly.

    Args:
        text: What to say.
    """
    return text.upper() + "!"
'''


@pytest.fixture
def client(fake_llm) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    with running_server() as url:
        yield letta_client.Letta(base_url=url, _strict_response_validation=True, max_retries=0)


def _agent(client: Any, name: str = "ada", **extra: Any) -> Any:
    return client.agents.create(name=name, model="openai/fake-model", memory_blocks=[
        {"label": "human", "value": "Name: Sam"}, {"label": "persona", "value": "I am Ada."}], **extra)


def test_tools_are_run_changed_and_deleted(client, memos, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    tool = client.tools.create(source_code=SHOUT)
    agent = _agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)

    ran = client.agents.tools.run("shout", agent_id=agent.id, args={"text": "hi"})
    assert ran.status == "success" and ran.func_return == "HI!"
    failed = client.agents.tools.run("shout", agent_id=agent.id, args={"text": 3})  # 3 has no .upper()
    assert failed.status == "error" and "AttributeError" in str(failed.func_return)
    missing = client.agents.tools.run("shout", agent_id=agent.id, args={})  # as Letta: a failed run, no value
    assert missing.status == "error" and missing.func_return is None and "missing: text" in " ".join(missing.stderr)
    wrong = client.agents.tools.run("memory_insert", agent_id=agent.id, args={"label": "human", "FAKE_ARG": "x"})
    assert wrong.status == "error" and wrong.func_return is None and "unknown: FAKE_ARG" in " ".join(wrong.stderr)
    appended = client.agents.tools.run("core_memory_append", agent_id=agent.id,
                                       args={"label": "human", "content": "Likes boats"})
    assert appended.status == "success"
    assert "Likes boats" in client.agents.blocks.retrieve("human", agent_id=agent.id).value
    with pytest.raises(letta_client.NotFoundError):
        client.agents.tools.run("nope", agent_id=agent.id, args={})

    renamed = client.tools.update(tool.id, description="Shout it.")
    assert renamed.description == "Shout it." and renamed.json_schema["description"] == "Shout it."
    rewritten = client.tools.update(tool.id, source_code=SHOUT.replace('+ "!"', '+ "!!"'))
    assert rewritten.id == tool.id and '"!!"' in rewritten.source_code
    # The agent's copy runs the library's code, so it is listed as that tool (Letta's test_agent_creation).
    attached = [t for t in client.agents.tools.list(agent_id=agent.id) if t.name == "shout"]
    assert [t.id for t in attached] == [tool.id] and [t.id for t in client.tools.list(name="shout")] == [tool.id]
    assert [t.id for t in client.agents.retrieve(agent.id).tools if t.name == "shout"] == [tool.id]

    # Changed in the agent's repo, the copy is the agent's own: its own id, changed only there.
    copy = agent_dir(memos_home, "ada") / "tools" / "shout.py"
    copy.write_text(SHOUT.replace('+ "!"', '+ "?"'))
    assert memos("tools", "commit", "-m", "Ask instead").code == 0
    own = [t for t in client.agents.tools.list(agent_id=agent.id) if t.name == "shout"]
    assert own[0].id != tool.id and {t.id for t in client.tools.list(name="shout")} == {tool.id, own[0].id}
    with pytest.raises(letta_client.UnprocessableEntityError) as repo_tool:
        client.tools.update(own[0].id, description="no")
    assert "tool repo" in repo_tool.value.body["detail"]
    client.tools.delete(own[0].id)  # the agent's copy: it is detached from the agent
    assert "shout" not in [t.name for t in client.agents.tools.list(agent_id=agent.id)]
    assert copy.exists()  # its repo keeps the file

    # Deleting the library tool takes it from the agents still running its code, as in Letta.
    bob = _agent(client, "bob")
    client.agents.tools.attach(tool.id, agent_id=bob.id)
    assert "shout" in [t.name for t in client.agents.tools.list(agent_id=bob.id)]
    client.tools.delete(tool.id)
    assert "shout" not in [t.name for t in client.agents.tools.list(agent_id=bob.id)]
    with pytest.raises(letta_client.NotFoundError):
        client.tools.retrieve(tool.id)
    with pytest.raises(letta_client.NotFoundError):
        client.tools.delete(tool.id)
    builtin = next(t for t in client.tools.list() if t.name == "send_message")
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.tools.delete(builtin.id)


def test_new_code_for_a_library_tool_reaches_the_agents_still_on_its_old_code(client, memos, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    """As Letta's agents share one tool, a library tool's new code reaches every agent whose copy is
    still the old code, as a commit in its repo; an agent that changed its copy keeps it."""
    import git

    tool = client.tools.create(source_code=SHOUT)
    ada, bob = _agent(client), _agent(client, "bob")
    for agent in (ada, bob):
        client.agents.tools.attach(tool.id, agent_id=agent.id)
    bobs = agent_dir(memos_home, "bob") / "tools" / "shout.py"
    bobs.write_text(SHOUT.replace('+ "!"', '+ "?"'))  # bob's own version
    assert memos("tools", "commit", "--agent", "bob", "-m", "Ask instead").code == 0

    client.tools.update(tool.id, source_code=SHOUT.replace('+ "!"', '+ "!!"'))
    assert client.agents.tools.run("shout", agent_id=ada.id, args={"text": "hi"}).func_return == "HI!!"
    assert client.agents.tools.run("shout", agent_id=bob.id, args={"text": "hi"}).func_return == "HI?"
    adas = git.Repo(agent_dir(memos_home, "ada") / "tools")
    assert adas.head.commit.summary == "Update tool shout from the library"
    assert adas.head.commit.parents[0].summary != "Update tool shout from the library"  # one commit
    assert git.Repo(agent_dir(memos_home, "bob") / "tools").head.commit.summary == "Ask instead"

    # A new function name reaches nobody: the agents keep the tool by the name they call it.
    client.tools.update(tool.id, source_code=SHOUT.replace("def shout(", "def yell("))
    assert client.agents.tools.run("shout", agent_id=ada.id, args={"text": "hi"}).func_return == "HI!!"


def test_a_tool_named_test_something_is_a_tool(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    source = SHOUT.replace("def shout", "def testing_method")
    tool = client.tools.create(source_code=source)
    agent = _agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    fake_llm.script({"tool_calls": [{"name": "testing_method", "arguments": {"text": "ok"}}]}, say("done"))
    reply = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "go"}])
    returns = [m for m in reply.messages if m.message_type == "tool_return_message"]
    assert returns[0].name == "testing_method" and returns[0].tool_return == "OK!"


def test_agent_tags_are_kept_filtered_and_listed(client, memos) -> None:  # type: ignore[no-untyped-def]
    ada = _agent(client, tags=["team:red", "prod"])
    bob = _agent(client, "bob", tags=["team:blue", "prod"])
    _agent(client, "cyd")
    assert client.agents.retrieve(ada.id).tags == ["team:red", "prod"]
    assert {a.name for a in client.agents.list(tags=["prod"])} == {"ada", "bob"}
    assert {a.name for a in client.agents.list(tags=["team:red", "team:blue"])} == {"ada", "bob"}
    assert {a.name for a in client.agents.list(tags=["team:red", "prod"], match_all_tags=True)} == {"ada"}
    assert client.tags.list() == ["prod", "team:blue", "team:red"]
    assert client.tags.list(after="prod", limit=1) == ["team:blue"]
    client.agents.update(bob.id, tags=["staging"])
    assert client.tags.list(name="sta") == ["staging"]

    listed = memos("agents", "list", "--tag", "staging", "--json")
    assert [a["name"] for a in listed.json()] == ["bob"] and listed.json()[0]["tags"] == ["staging"]
    assert memos("agents", "update", "cyd", "--tag", "x", "--tag", "y").code == 0
    assert [a["name"] for a in memos("agents", "list", "--tag", "x", "--tag", "y", "--all-tags", "--json").json()] \
        == ["cyd"]
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.agents.update(ada.id, tags=[""])


def test_system_messages_and_chosen_return_types(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    fake_llm.script({"tool_calls": [{"name": "conversation_search", "arguments": {"query": "x"}}]}, say("Done."))
    reply = client.agents.messages.create(agent_id=agent.id, include_return_message_types=["assistant_message"],
                                          messages=[{"role": "system", "content": "The user is in Lisbon."},
                                                    {"role": "user", "content": "where am I?"}])
    assert [m.message_type for m in reply.messages] == ["assistant_message"]
    assert reply.stop_reason.stop_reason == "end_turn"
    request = fake_llm.requests[-2]["messages"]
    assert [m["role"] for m in request[-2:]] == ["system", "user"]
    assert request[-2]["content"] == "The user is in Lisbon." and request[-1]["content"] == "where am I?"
    listed = client.agents.messages.list(agent_id=agent.id, order="asc").items
    # The log begins with the agent's system message (its prompt), then the request's note and question.
    assert [m.message_type for m in listed][:3] == ["system_message", "system_message", "user_message"]
    assert "<memory_blocks>" in listed[0].content and listed[1].content == "The user is in Lisbon."

    fake_llm.script(say("Noted."))
    streamed = list(client.agents.messages.stream(agent_id=agent.id, include_return_message_types=["tool_call_message"],
                                                  messages=[{"role": "user", "content": "hi"}]))
    assert not [c for c in streamed if c.message_type == "assistant_message"]
    assert [c.message_type for c in streamed][-2:] == ["stop_reason", "usage_statistics"]


def test_blocks_without_a_limit_get_lettas_default(client) -> None:  # type: ignore[no-untyped-def]
    standalone = client.blocks.create(label="notes", value="shared notes")
    assert standalone.limit == 100_000  # Letta's CORE_MEMORY_BLOCK_CHAR_LIMIT
    agent = client.agents.create(name="ada", model="openai/fake-model",
                                 memory_blocks=[{"label": "human", "value": "Name: Sam"},
                                                {"label": "persona", "value": "I am Ada.", "limit": 500}])
    limits = {b.label: b.limit for b in client.agents.blocks.list(agent_id=agent.id)}
    assert limits == {"human": 100_000, "persona": 500}


def test_reset_messages_starts_afresh_and_keeps_recall(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    fake_llm.script(say("Noted, oolong."))
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "I drink oolong"}])
    client.agents.messages.reset(agent.id)
    fake_llm.script(say("Hello again."))
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
    prompt = fake_llm.requests[-1]["messages"]
    assert [m["role"] for m in prompt] == ["system", "user"] and prompt[-1]["content"] == "hi"
    kept = [m.content for m in client.agents.messages.list(agent_id=agent.id, order="asc").items
            if m.message_type == "user_message"]
    assert kept == ["I drink oolong", "hi"]  # still stored: conversation_search finds it
    ran = client.agents.tools.run("conversation_search", agent_id=agent.id, args={"query": "oolong"})
    assert "I drink oolong" in str(ran.func_return)


def test_messages_async_runs_in_the_background_and_is_followed_through_runs(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import threading
    import time

    agent = _agent(client)
    gate = threading.Event()
    fake_llm.script({**say("Done in the background."), "gate": gate})
    run = client.agents.messages.create_async(agent_id=agent.id, messages=[{"role": "user", "content": "work"}])
    assert run.status == "running" and run.agent_id == agent.id  # returned while the LLM is held
    gate.set()
    deadline = time.monotonic() + 60
    while client.runs.retrieve(run.id).status == "running":
        assert time.monotonic() < deadline, "the background run never finished"
        time.sleep(0.1)
    assert client.runs.retrieve(run.id).status == "completed"
    replies = [m for m in client.runs.messages.list(run.id) if m.message_type == "assistant_message"]
    assert [m.content for m in replies] == ["Done in the background."]


def test_agent_reads_carry_blocks_only_when_asked(client) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    assert [b.label for b in agent.blocks] == ["human", "persona"]  # the created agent, whole
    assert client.agents.retrieve(agent.id).blocks == []
    assert [b.label for b in client.agents.retrieve(agent.id, include=["agent.blocks"]).blocks] == ["human", "persona"]
    assert [a.blocks for a in client.agents.list()] == [[]]
    assert [len(a.blocks) for a in client.agents.list(include=["agent.blocks"])] == [2]


def test_letta_names_spaces_and_duplicates(client, memos, fake_llm, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    spaced = client.agents.create(name="Search Agent One", model="openai/fake-model", memory_blocks=[])
    first = client.agents.create(name="helper", model="openai/fake-model", memory_blocks=[])
    second = client.agents.create(name="helper", model="openai/fake-model", memory_blocks=[])
    assert {spaced.name, first.name, second.name} == {"Search Agent One", "helper"} and first.id != second.id
    # Each has its own tool repo, named after its id.
    assert (memos_home / "agents" / first.id / "tools" / ".git").is_dir()
    assert (memos_home / "agents" / second.id / "tools" / ".git").is_dir()
    assert (memos_home / "agents" / spaced.id / "tools" / ".git").is_dir()

    # Both answer by id; the shared name is refused as ambiguous, with the way out.
    fake_llm.script(say("Second here."))
    reply = client.agents.messages.create(agent_id=second.id, messages=[{"role": "user", "content": "who?"}])
    assert reply.messages[-1].content == "Second here."
    ambiguous = memos("memory", "show", "human", "--agent", "helper")
    assert ambiguous.code == 1 and "'helper' names 2 agents" in ambiguous.err and "id" in ambiguous.err
    assert memos("agents", "show", second.id, "--json").json()["name"] == "helper"
    assert memos("agents", "show", "Search Agent One", "--json").json()["id"] == spaced.id

    # The CLI keeps its names unique; the rule for what a name may be is the API's.
    refused = memos("agents", "create", "helper")
    assert refused.code != 0 and "already exists" in refused.err
    assert memos("agents", "create", "two words").code == 0

    # Renaming over the API may share a name; the files stay with the agent.
    client.agents.update(first.id, name="Search Agent One")
    assert (memos_home / "agents" / first.id / "tools" / ".git").is_dir()
    assert not (memos_home / "agents" / "helper").exists()
    client.agents.delete(spaced.id)
    assert not (memos_home / "agents" / spaced.id).exists()
    assert (memos_home / "agents" / first.id / "tools" / ".git").is_dir()
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.agents.create(name="   ", model="openai/fake-model")


def test_generate_is_one_completion_with_the_agents_model(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import httpx

    agent = _agent(client)
    base = str(client.base_url).rstrip("/")
    fake_llm.script({"content": "Lisbon.", "prompt_tokens": 12, "completion_tokens": 2},
                    {"tool_calls": [{"name": "respond", "arguments": {"city": "Lisbon", "country": "Portugal"}}]})
    done = httpx.post(f"{base}/v1/agents/{agent.id}/generate", timeout=30,
                      json={"prompt": "Capital of Portugal?", "system_prompt": "One word."}).json()
    assert done == {"content": "Lisbon.", "model": "openai/fake-model",
                    "usage": {"message_type": "usage_statistics", "prompt_tokens": 12, "completion_tokens": 2,
                              "total_tokens": 14, "step_count": 1}}
    request = fake_llm.requests[-1]
    assert [m["role"] for m in request["messages"]] == ["system", "user"] and "tools" not in request
    schema = {"properties": {"city": {"type": "string"}, "country": {"type": "string"}}, "required": ["city"]}
    structured = httpx.post(f"{base}/v1/agents/{agent.id}/generate", timeout=30,
                            json={"prompt": "Capital of Portugal?", "response_schema": schema}).json()
    assert json.loads(structured["content"]) == {"city": "Lisbon", "country": "Portugal"}
    assert fake_llm.requests[-1]["tools"][0]["function"]["parameters"]["properties"] == schema["properties"]
    assert [m.message_type for m in client.agents.messages.list(agent_id=agent.id).items] == ["system_message"]
    bad = httpx.post(f"{base}/v1/agents/{agent.id}/generate", json={"prompt": ""}, timeout=30)
    assert bad.status_code == 422


def test_a_letta_source_that_names_typing_generics_without_importing_them(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    source = '''def count_words(texts: List[str], minimum: Optional[int] = None) -> Dict[str, int]:
    """Count the words of each text.

    Args:
        texts: The texts.
        minimum: Leave out texts with fewer words.
    """
    counts = {text: len(text.split()) for text in texts}
    return {text: n for text, n in counts.items() if minimum is None or n >= minimum}
'''
    tool = client.tools.create(source_code=source)
    parameters = tool.json_schema["parameters"]
    assert parameters["properties"]["texts"] == {"type": "array", "items": {"type": "string"},
                                                 "description": "The texts."}
    assert parameters["required"] == ["texts"]
    agent = _agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    ran = client.agents.tools.run("count_words", agent_id=agent.id, args={"texts": ["a b", "c"], "minimum": 2})
    assert ran.status == "success" and ran.func_return == {"a b": 2}


def test_the_log_begins_with_the_system_message_and_pages_around_it(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    for word in ("one", "two", "three"):
        fake_llm.script(say(f"ok {word}"))
        client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": word}])
    # Letta 0.16.8's paging (its message manager and get_agent_recall_async): the cursors are
    # chronological whatever the order; desc takes the newest messages and lists them oldest first.
    ascending = client.agents.messages.list(agent_id=agent.id, order="asc", limit=100).items
    descending = client.agents.messages.list(agent_id=agent.id, order="desc", limit=100).items
    assert ascending[0].message_type == "system_message" and "Name: Sam" in ascending[0].content
    ids = [m.id for m in ascending]
    assert [m.id for m in descending] == ids  # every message fits: the same page, oldest first

    def page(**query) -> list[str]:  # type: ignore[no-untyped-def]
        return [m.id for m in client.agents.messages.list(agent_id=agent.id, **query).items]

    assert page(order="desc", limit=2) == ids[-2:]  # the newest two, oldest first
    assert page(order="asc", limit=2) == ids[:2]
    assert [m.id for m in client.agents.messages.list(agent_id=agent.id, order="asc", limit=2)] == ids  # the SDK pages on
    # After the last item of a newest-first page comes nothing, as in Letta: the SDK stops there.
    assert [m.id for m in client.agents.messages.list(agent_id=agent.id, order="desc", limit=2)] == ids[-2:]
    system_id = ids[0]
    assert page(order="asc", after=system_id) == ids[1:]
    assert page(order="desc", after=system_id) == ids[1:]
    assert page(order="asc", before=system_id) == [] and page(order="desc", before=system_id) == []
    assert page(order="asc", before=ids[3], limit=2) == ids[:2]  # the oldest two before it
    assert page(order="desc", before=ids[3], limit=2) == ids[1:3]  # the newest two before it
    assert page(order="desc", after=ids[-2]) == ids[-1:]
    assert page(order="asc", after=ids[1], before=ids[4]) == ids[2:4]


def test_a_tool_without_type_hints_takes_the_clients_schema(client, fake_llm, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    source = '''def greet(name, times=1):
    """Greet someone.

    Args:
        name: Who.
        times: How often.
    """
    return " ".join(["Hello " + name] * int(times))
'''
    with pytest.raises(letta_client.UnprocessableEntityError) as untyped:  # no hints, no schema: refused
        client.tools.create(source_code=source)
    assert "no type hint" in untyped.value.body["detail"]
    schema = {"name": "greet", "description": "Greet someone.", "parameters": {
        "type": "object", "properties": {"name": {"type": "string", "description": "Who."},
                                         "times": {"type": "integer", "description": "How often."}},
        "required": ["name"]}}
    tool = client.tools.create(source_code=source, json_schema=schema)
    assert tool.json_schema["parameters"] == schema["parameters"]
    agent = _agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    repo = agent_dir(memos_home, "ada") / "tools"
    assert (repo / "greet.schema.json").exists()  # the schema went into the repo with the code
    fake_llm.script({"tool_calls": [{"name": "greet", "arguments": {"name": "Sam", "times": 2}}]}, say("done"))
    reply = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "greet Sam"}])
    returns = [m for m in reply.messages if m.message_type == "tool_return_message"]
    assert returns[0].tool_return == "Hello Sam Hello Sam"
    offered = {t["function"]["name"]: t["function"] for t in fake_llm.requests[-2]["tools"]}
    assert offered["greet"]["parameters"] == schema["parameters"]  # the model was shown the given schema
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.tools.create(source_code=source, json_schema={"name": "greet"})


LONG = '''def long_report(size: int) -> str:
    """A report of this many characters.

    Args:
        size: How many characters.
    """
    return "x" * size
'''


def test_tool_tags_and_return_char_limit_are_kept_and_cut_results(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """As Letta 0.16.8's own tools_test.py checks: tags and return_char_limit survive create and
    update; the agent then reads at most return_char_limit characters of the tool's result."""
    from tests.conftest import call

    tool = client.tools.create(source_code=LONG, tags=["reports"], return_char_limit=1000)
    assert tool.tags == ["reports"] and tool.return_char_limit == 1000
    updated = client.tools.update(tool.id, tags=["reports", "sdk_test"], return_char_limit=300)
    assert updated.tags == ["reports", "sdk_test"] and updated.return_char_limit == 300
    assert client.tools.retrieve(tool.id).return_char_limit == 300
    agent = _agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    attached = next(t for t in client.agents.tools.list(agent_id=agent.id) if t.name == "long_report")
    assert attached.return_char_limit == 300 and attached.tags == ["reports", "sdk_test"]

    fake_llm.script(call("long_report", size=5000), say("Long."))
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "report"}])
    result = [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"][-1]
    assert result == "x" * 300 + ("... [NOTE: function output was truncated since it exceeded the character "
                                  "limit (5000 > 300)]")  # Letta's note, word for word
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.tools.update(tool.id, return_char_limit=0)


def test_a_tool_takes_a_schema_and_is_renamed_by_it(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta 0.16.8's test_tool_rename_with_json_schema_and_source_code: a PATCH with a json_schema
    keeps it as given and renames the tool by it (memos renames the function in the source too, so
    the tool still runs); a new source and a schema naming different functions is a 400."""
    tool = client.tools.create(source_code=SHOUT)
    schema = {"name": "yell", "description": "Say it very loudly.",
              "parameters": {"type": "object", "properties": {"text": {"type": "string", "description": "Words."}},
                             "required": ["text"]}}
    with pytest.raises(letta_client.BadRequestError) as contradiction:
        client.tools.update(tool.id, source_code=SHOUT.replace("def shout(", "def whisper("), json_schema=schema)
    assert "json_schema names the tool yell but source_code defines whisper" in str(contradiction.value.body)
    assert client.tools.retrieve(tool.id).name == "shout"  # nothing changed

    renamed = client.tools.update(tool.id, json_schema=schema)
    assert renamed.id == tool.id and renamed.name == "yell" and renamed.json_schema == schema
    assert "def yell(text: str) -> str:" in renamed.source_code
    agent = _agent(client)
    client.agents.tools.attach(tool.id, agent_id=agent.id)
    assert client.agents.tools.run("yell", agent_id=agent.id, args={"text": "hi"}).func_return == "HI!"
    fake_llm.script(call("yell", text="hey"), say("Done."))
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "yell hey"}])
    offered = next(t["function"] for t in fake_llm.requests[0]["tools"] if t["function"]["name"] == "yell")
    assert offered["description"] == "Say it very loudly."  # the schema given is the one the model reads
    with pytest.raises(letta_client.UnprocessableEntityError):
        client.tools.update(tool.id, json_schema={**schema, "name": "send_message"})  # a built-in's name


def test_a_block_label_changes_and_a_repeated_rule_is_one_rule(client, memos) -> None:  # type: ignore[no-untyped-def]
    """Letta 0.16.8's test_sdk_client.py: agents.blocks.update(label=...) renames the block, and
    the same tool rule given twice is kept once."""
    agent = _agent(client, tool_rules=[{"type": "exit_loop", "tool_name": "send_message"}] * 3)
    assert [r.type for r in client.agents.retrieve(agent.id).tool_rules] == ["exit_loop"]
    # As Letta: a rule may name a tool the agent does not have (yet); it does nothing until then.
    updated = client.agents.update(agent.id, tool_rules=[
        {"type": "max_count_per_step", "tool_name": "test_tool", "max_count_limit": 2},
        {"type": "max_count_per_step", "tool_name": "test_tool", "max_count_limit": 2},
        {"type": "max_count_per_step", "tool_name": "test_tool", "max_count_limit": 3},
        {"type": "run_first", "tool_name": "not_here"}])
    assert [(r.type, getattr(r, "max_count_limit", None)) for r in updated.tool_rules] == [
        ("max_count_per_step", 2), ("max_count_per_step", 3), ("run_first", None)]
    client.agents.blocks.update("human", agent_id=agent.id, label="person")
    assert client.agents.blocks.retrieve("person", agent_id=agent.id).value == "Name: Sam"
    with pytest.raises(letta_client.NotFoundError):
        client.agents.blocks.retrieve("human", agent_id=agent.id)
    with pytest.raises(letta_client.ConflictError):
        client.agents.blocks.update("person", agent_id=agent.id, label="persona")  # taken
    renamed = memos("memory", "rename", "person", "human", "--agent", "ada")
    assert renamed.code == 0 and "renamed block 'person' to 'human'" in renamed.err
    assert memos("memory", "rename", "human", "two words", "--agent", "ada").code != 0


def test_counts_summarize_and_recompile(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    ada = _agent(client, tags=["team"])
    _agent(client, "bob")
    assert client.get("/v1/agents/count", cast_to=int) == 2
    assert client.get("/v1/agents/count", cast_to=int, options={"params": {"tags": ["team"]}}) == 1
    tools = list(client.tools.list(limit=1000))
    assert client.get("/v1/tools/count", cast_to=int) == len(tools)
    assert client.get("/v1/blocks/count", cast_to=int, options={"params": {"label": "human"}}) == 2

    prompt = client.agents.recompile(ada.id)
    assert "I am Ada." in prompt and "Name: Sam" in prompt
    with pytest.raises(letta_client.BadRequestError):  # nothing to summarise yet (Letta's 400)
        client.agents.messages.compact(ada.id)
    fake_llm.script(say("one"), say("two"), say("three"), {"content": "Sam counted to three."})
    for text in ("one", "two", "three"):
        client.agents.messages.create(ada.id, messages=[{"role": "user", "content": text}])
    summarised = client.agents.messages.compact(ada.id)
    assert summarised.summary == "Sam counted to three."
    assert summarised.num_messages_after < summarised.num_messages_before
    assert "Sam counted to three." in client.agents.recompile(ada.id)


def _left_mid_reply(client: Any, fake_llm: Any, agent: Any, **stream: Any) -> tuple[list[Any], str]:
    """A client streams a counting reply token by token and leaves at its first words, after
    which the model goes on: what the client saw, and the run's id."""
    import threading

    resume = threading.Event()
    fake_llm.script({"content": "one two three four five six seven eight", "pause_after": 2, "resume": resume})
    chunks = client.agents.messages.stream(agent.id, messages=[{"role": "user", "content": "count"}],
                                           stream_tokens=True, **stream)
    seen = []
    for chunk in chunks:
        seen.append(chunk)
        if chunk.message_type == "assistant_message":
            break  # the client leaves mid-reply
    chunks.close()
    resume.set()
    return seen, next(c.run_id for c in seen if getattr(c, "run_id", None))


def test_a_background_stream_goes_on_without_its_client_and_resumes(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    seen, run_id = _left_mid_reply(client, fake_llm, agent, background=True)
    assert client.runs.retrieve(run_id).background is True

    rest = list(client.runs.messages.stream(run_id, starting_after=seen[-1].seq_id))
    text = "".join(c.content for c in [*seen, *rest] if c.message_type == "assistant_message")
    assert text == "one two three four five six seven eight"  # nothing lost, nothing twice
    assert [c.message_type for c in rest][-2:] == ["stop_reason", "usage_statistics"]
    assert client.runs.retrieve(run_id).status == "completed"  # not cancelled by the client leaving
    again = list(client.runs.messages.stream(run_id))  # read from the start, after the end
    assert "".join(c.content for c in again if c.message_type == "assistant_message") == text

    fake_llm.script(say("plain"))
    plain = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(letta_client.BadRequestError) as refused:
        list(client.runs.messages.stream(plain.messages[0].run_id))
    assert "not created in background mode" in refused.value.body["detail"]
    conversation = client.conversations.create(agent_id=agent.id)
    with pytest.raises(letta_client.BadRequestError) as idle:  # Letta's 400
        list(client.conversations.messages.stream(conversation.id))
    assert "No active runs found" in idle.value.body["detail"]


def _suffixes(messages: list[Any]) -> list[tuple[str, str]]:
    """(message type, the otid's last hex digit): Letta's tests check the numbering by it."""
    return [(m.message_type, m.otid[-1]) for m in messages
            if m.message_type not in ("stop_reason", "usage_statistics", "ping")]


def test_every_returned_message_has_letta_otid_numbering(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta numbers the messages made from one stored message by otid (the message's UUID, its
    last 7 bits the index): reasoning 0, then the tool call 1; a tool return is its own message
    (0); the user's message keeps the client's otid. integration_test_send_message_v2 checks this."""
    from tests.conftest import call

    agent = _agent(client)
    user_otid = "2b4f1e6a-0000-4000-8000-0000000000aa"
    fake_llm.script({**call("memory_insert", label="human", new_str="Likes tea"), "content": "Noting that."},
                    {**say("Noted: tea."), "content": "Thinking it over."})
    reply = client.agents.messages.create(agent.id, messages=[{"role": "user", "content": "I like tea",
                                                               "otid": user_otid}])
    assert _suffixes(reply.messages) == [("reasoning_message", "0"), ("tool_call_message", "1"),
                                         ("tool_return_message", "0"), ("reasoning_message", "0"),
                                         ("assistant_message", "1")]
    assert len({m.otid for m in reply.messages if m.otid}) == 5

    listed = [m for m in client.agents.messages.list(agent.id, order="asc").items
              if m.message_type != "system_message"]
    assert listed[0].message_type == "user_message" and listed[0].otid == user_otid
    assert _suffixes(listed[1:]) == [("reasoning_message", "0"), ("tool_call_message", "1"),
                                     ("tool_return_message", "0"), ("reasoning_message", "0"),
                                     ("assistant_message", "1")]

    fake_llm.script({**say("Still tea."), "content": "Again."})
    streamed = list(client.agents.messages.stream(agent.id, messages=[{"role": "user", "content": "Again"}]))
    assert _suffixes(streamed) == [("reasoning_message", "0"), ("assistant_message", "1")]


def test_a_replys_messages_are_the_ones_listed_after_it_id_for_id(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """What a turn answers (whole, streamed, or token by token) names the messages as they are
    stored: a client can look one up, page from it, or match it with the list by id and otid."""
    from tests.conftest import call

    agent = _agent(client)
    kinds = ("reasoning_message", "tool_call_message", "tool_return_message", "assistant_message")

    def keys(messages: Any) -> list[tuple[str, str, str | None]]:
        return [(m.message_type, m.id, m.otid) for m in messages if getattr(m, "message_type", None) in kinds]

    for way in ("create", "stream", "tokens"):
        fake_llm.script({**call("conversation_search", query=way), "content": "Looking."},
                        {**say(f"Done with {way}."), "content": "Answering."})
        before = {m.id for m in client.agents.messages.list(agent.id, limit=1000).items}
        ask = [{"role": "user", "content": f"search {way}"}]
        if way == "create":
            answered = keys(client.agents.messages.create(agent.id, messages=ask).messages)
        else:
            answered = keys(client.agents.messages.stream(agent.id, messages=ask, stream_tokens=way == "tokens"))
        listed = keys(m for m in client.agents.messages.list(agent.id, limit=1000, order="asc").items
                      if m.id not in before or m.message_type != "user_message")
        if way == "tokens":
            # Pieces of one message share its id and otid: one entry each. The text a step writes
            # before its tool calls streams as an assistant message, then is listed as the step's
            # reasoning (it could not be known to be reasoning until the calls came): same id and otid.
            pieces = [(id_, otid) for _, id_, otid in dict.fromkeys(answered)]
            assert pieces == [(id_, otid) for _, id_, otid in listed[-len(pieces):]], (answered, listed)
            continue
        assert answered == listed[-len(answered):], (way, answered, listed)
        assert [k[0] for k in answered] == ["reasoning_message", "tool_call_message", "tool_return_message",
                                            "reasoning_message", "assistant_message"], way
        looked_up = client.messages.retrieve(answered[-1][1])
        assert "assistant_message" in [m.message_type for m in looked_up]


def test_parallel_calls_go_out_as_one_message_with_every_return_listed(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta's v1 agent sends the calls of one LLM response as one tool_call_message
    (tool_calls holds them all); each return lists itself in tool_returns."""
    agent = _agent(client)
    queries = ["tea", "boats", "cello"]
    parallel = {"tool_calls": [{"name": "conversation_search", "arguments": {"query": q}} for q in queries]}
    fake_llm.script(parallel, say("Searched."))
    sent = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "search"}])
    calls = [m for m in sent.messages if m.message_type == "tool_call_message"]
    assert len(calls) == 1 and [json.loads(c.arguments)["query"] for c in calls[0].tool_calls] == queries
    assert calls[0].tool_call.tool_call_id == calls[0].tool_calls[0].tool_call_id
    returns = [m for m in sent.messages if m.message_type == "tool_return_message"]
    assert [r.tool_returns[0].tool_call_id for r in returns] == [c.tool_call_id for c in calls[0].tool_calls]

    fake_llm.script(parallel, say("Searched again."))
    streamed = [m for m in client.agents.messages.stream(agent_id=agent.id, messages=[
        {"role": "user", "content": "again"}]) if getattr(m, "message_type", None) == "tool_call_message"]
    assert len(streamed) == 1 and len(streamed[0].tool_calls) == 3

    listed = [m for m in client.agents.messages.list(agent_id=agent.id, limit=50).items
              if m.message_type == "tool_call_message"]
    assert [len(m.tool_calls) for m in listed] == [3, 3]


def test_an_agent_shows_the_approval_it_waits_on_and_its_last_stop_reason(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    tool = client.tools.create(source_code=SHOUT, default_requires_approval=True)
    agent = _agent(client, tool_ids=[tool.id])
    assert client.agents.retrieve(agent_id=agent.id).last_stop_reason is None
    fake_llm.script(call("shout", text="hi"), say("Shouted."))
    asked = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "shout hi"}])
    request = asked.messages[-1]
    assert request.message_type == "approval_request_message"

    waiting = client.agents.retrieve(agent_id=agent.id, include=["agent.pending_approval"])
    assert waiting.last_stop_reason == "requires_approval"
    assert waiting.pending_approval.tool_calls[0].tool_call_id == request.tool_call.tool_call_id
    assert client.agents.retrieve(agent_id=agent.id).pending_approval is None  # only when asked for
    with pytest.raises(letta_client.APIError, match="Please approve or deny the pending request before continuing"):
        client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])

    client.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approvals": [
        {"type": "approval", "approve": True, "tool_call_id": request.tool_call.tool_call_id}]}])
    done = client.agents.retrieve(agent_id=agent.id, include=["agent.pending_approval"])
    assert done.pending_approval is None and done.last_stop_reason == "end_turn"


def test_an_otid_said_again_after_its_approval_flow_is_a_new_message(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """A retry is answered once (409 once answered), but the same otid again after its turn
    stopped for an approval that has been decided is a new message, as Letta takes it (its
    clients send one otid for a whole approval flow)."""
    tool = client.tools.create(source_code=SHOUT, default_requires_approval=True)
    agent = _agent(client, tool_ids=[tool.id])
    fake_llm.script(say("First."), call("shout", text="hi"), say("Shouted."), say("Again."))
    hello = [{"role": "user", "content": "hello", "otid": "otid-hello"}]
    client.agents.messages.create(agent_id=agent.id, messages=hello)
    with pytest.raises(letta_client.ConflictError, match="already sent"):
        client.agents.messages.create(agent_id=agent.id, messages=hello)

    shout = [{"role": "user", "content": "shout hi", "otid": "otid-shout"}]
    asked = client.agents.messages.create(agent_id=agent.id, messages=shout)
    client.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approvals": [
        {"type": "approval", "approve": True, "tool_call_id": asked.messages[-1].tool_call.tool_call_id}]}])
    again = client.agents.messages.create(agent_id=agent.id, messages=shout)
    assert [m.content for m in again.messages if m.message_type == "assistant_message"] == ["Again."]
    users = [m.content for m in client.agents.messages.list(agent_id=agent.id, limit=50).items
             if m.message_type == "user_message"]
    assert [u.split()[-1] if u.split() else u for u in users][-3:] == ["hello", "hi", "hi"]


ANSWER_SCHEMA = {"name": "capital_response", "strict": True, "schema": {
    "type": "object", "properties": {"response": {"type": "string"}, "justification": {"type": "string"}},
    "required": ["response", "justification"], "additionalProperties": False}}


def test_structured_output_goes_with_every_request_and_survives_an_agent_file(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta's response_format (letta-client: model_settings.response_format): was accepted and
    silently ignored."""
    agent = _agent(client, model_settings={"provider_type": "openai", "response_format": {
        "type": "json_schema", "json_schema": ANSWER_SCHEMA}})
    assert agent.response_format.type == "json_schema"
    answer = json.dumps({"response": "Paris", "justification": "It is the capital."})
    fake_llm.script({"content": answer})
    sent = client.agents.messages.create(agent_id=agent.id, messages=[
        {"role": "user", "content": "What is the capital of France?"}])
    assert json.loads(next(m for m in sent.messages if m.message_type == "assistant_message").content)["response"] == "Paris"
    assert fake_llm.requests[-1]["response_format"] == {"type": "json_schema", "json_schema": ANSWER_SCHEMA}

    exported = client.agents.export_file(agent_id=agent.id)
    document = exported if isinstance(exported, str) else json.dumps(exported)
    copy = client.agents.import_file(file=("a.af", document.encode()), name="copy").agent_ids[0]
    assert client.agents.retrieve(agent_id=copy).response_format.type == "json_schema"

    plain = client.agents.update(agent_id=agent.id, response_format={"type": "text"})
    assert plain.response_format is None
    fake_llm.script(say("Plain."))
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
    assert "response_format" not in fake_llm.requests[-1]
    with pytest.raises(letta_client.UnprocessableEntityError, match="json_schema.schema"):
        client.agents.update(agent_id=agent.id, response_format={"type": "json_schema", "json_schema": {"name": "x"}})


def test_override_system_is_that_turns_prompt_only(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta's override_system (a conversation message's own system prompt): was ignored."""
    agent = _agent(client)
    conversation = client.conversations.create(agent_id=agent.id)
    fake_llm.script(say("blue"), say("Hello."))
    client.post(f"/v1/conversations/{conversation.id}/messages", cast_to=dict, body={
        "messages": [{"role": "user", "content": "hi"}], "streaming": False,
        "override_system": 'Always respond with a single word: "blue"'})
    overridden = fake_llm.requests[-1]["messages"][0]["content"]
    assert overridden.startswith('Always respond with a single word: "blue"') and "<memory_blocks>" in overridden
    client.post(f"/v1/conversations/{conversation.id}/messages", cast_to=dict, body={
        "messages": [{"role": "user", "content": "hi again"}], "streaming": False})
    assert "single word" not in fake_llm.requests[-1]["messages"][0]["content"]
    assert client.agents.retrieve(agent_id=agent.id).system == agent.system  # the agent's own is untouched


def test_an_approval_can_carry_a_user_message_the_model_reads_after_the_result(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta takes [approval, user message] in one request (was a 422)."""
    tool = client.tools.create(source_code=SHOUT, default_requires_approval=True)
    agent = _agent(client, tool_ids=[tool.id])
    fake_llm.script(call("shout", text="hi"), say("Shouted, quietly."))
    asked = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "shout hi"}])
    call_id = asked.messages[-1].tool_call.tool_call_id
    client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approvals": [{"type": "approval", "approve": True, "tool_call_id": call_id}]},
        {"type": "message", "role": "user", "content": "Keep it quiet next time."}])
    sent = fake_llm.requests[-1]["messages"]
    assert [m["role"] for m in sent[-2:]] == ["tool", "user"] and sent[-2]["content"].startswith("HI!")
    assert sent[-1]["content"].endswith("Keep it quiet next time.")
    with pytest.raises(letta_client.UnprocessableEntityError, match="one approval"):
        client.agents.messages.create(agent_id=agent.id, messages=[
            {"type": "approval", "approve": True}, {"type": "approval", "approve": False}])


REASON_TOOL = '''class WriteReasonOffer(BaseModel):
    reason: str = Field(..., description="Why.")
    score: int = Field(..., description="How sure, 1 to 10.")


def write_reason(reason: str, score: int) -> str:
    """Write down a reason.

    Args:
        reason: Why.
        score: How sure, 1 to 10.
    """
    return WriteReasonOffer(reason=reason, score=score).model_dump_json()
'''


def test_a_tool_with_its_own_pydantic_model_and_no_imports_loads_and_runs(client) -> None:  # type: ignore[no-untyped-def]
    """Letta's sources define an argument model above the function without importing pydantic
    (Letta's sandbox provides BaseModel and Field); this was 'NameError: BaseModel'."""
    tool = client.tools.create(source_code=REASON_TOOL)
    assert tool.name == "write_reason" and set(tool.json_schema["parameters"]["properties"]) == {"reason", "score"}
    agent = _agent(client, tool_ids=[tool.id])
    ran = client.agents.tools.run("write_reason", agent_id=agent.id, args={"reason": "tested", "score": 9})
    assert ran.status == "success" and json.loads(ran.func_return) == {"reason": "tested", "score": 9}


def test_listing_after_an_item_deleted_meanwhile_pages_on(client) -> None:  # type: ignore[no-untyped-def]
    """Letta's tests delete what they list, page by page: the next page's cursor is gone (was 404)."""
    made = [_agent(client, f"a{i}").id for i in range(3)]
    first = client.agents.list(limit=1).items[0]
    client.agents.delete(agent_id=first.id)
    rest = client.agents.list(limit=10, after=first.id).items
    assert sorted(a.id for a in rest) == sorted(set(made) - {first.id})


def test_message_ids_and_any_message_by_id_system_messages_included(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    fake_llm.script(say("Hello, Sam."), say("First."), say("Second."))
    client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
    state = client.agents.retrieve(agent_id=agent.id)
    system = client.get(f"/v1/messages/{state.message_ids[0]}", cast_to=list[dict[str, Any]])
    assert system[0]["message_type"] == "system_message" and "- AGENT_ID: " + agent.id in system[0]["content"]
    assert "- CONVERSATION_ID: default" in system[0]["content"] and "- System prompt last recompiled:" in system[0]["content"]
    user = client.get(f"/v1/messages/{state.message_ids[1]}", cast_to=list[dict[str, Any]])
    assert user[0]["message_type"] == "user_message" and user[0]["content"].endswith("hi")
    assert len(state.message_ids) >= 3  # system, user, the reply

    conversation = client.conversations.create(agent_id=agent.id)
    own = client.conversations.retrieve(conversation_id=conversation.id).in_context_message_ids[0]
    in_conversation = client.get(f"/v1/messages/{own}", cast_to=list[dict[str, Any]])
    assert f"- CONVERSATION_ID: {conversation.id}" in in_conversation[0]["content"]
    with pytest.raises(letta_client.NotFoundError):
        client.get("/v1/messages/message-00000000-0000-4000-8000-000000000000", cast_to=list[dict[str, Any]])

    for text in ("First message", "Second message"):
        list(client.conversations.messages.create(conversation_id=conversation.id,
                                                  messages=[{"role": "user", "content": text}]))
    page = client.conversations.messages.list(conversation_id=conversation.id, order="desc").items  # one page
    newest_first = [m.content for m in page if m.message_type == "user_message"]
    assert [text.split()[-2] for text in newest_first] == ["Second", "First"]


def test_a_tool_given_its_schema_loads_though_its_hints_name_missing_classes(client) -> None:  # type: ignore[no-untyped-def]
    """Letta never runs a source to learn a schema it was given, and its tests upload functions
    annotated with classes they leave out (was 'NameError: name ... is not defined')."""
    source = '''def plan_steps(steps: "list[Step]", explanation: StepsList) -> str:
    """Make a plan."""
    return f"{len(steps)} steps: {explanation}"
'''
    schema = {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string"}},
                                                "explanation": {"type": "string"}},
              "required": ["steps", "explanation"]}
    tool = client.tools.create(source_code=source, args_json_schema=schema)
    assert tool.json_schema["parameters"]["properties"]["explanation"] == {"type": "string"}
    agent = _agent(client, tool_ids=[tool.id])
    ran = client.agents.tools.run("plan_steps", agent_id=agent.id, args={"steps": ["a", "b"], "explanation": "why"})
    assert ran.status == "success" and ran.func_return == "2 steps: why"


def test_compacting_with_mode_all_leaves_the_summary_alone(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    fake_llm.script(say("one"), say("two"), {"content": "Sam counted to two."})
    for text in ("one", "two"):
        client.agents.messages.create(agent.id, messages=[{"role": "user", "content": text}])
    compacted = client.agents.messages.compact(agent_id=agent.id, compaction_settings={"mode": "all"})
    assert compacted.summary == "Sam counted to two." and compacted.num_messages_after == 2  # system + summary
    assert len(client.agents.retrieve(agent_id=agent.id).message_ids) == 2


def test_client_skills_are_named_to_the_model_for_that_request_only(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    agent = _agent(client)
    conversation = client.conversations.create(agent_id=agent.id)
    skills = [{"name": "debugging-checklist", "description": "Use this skill to debug stream wiring.",
               "location": "/tmp/.skills/debugging-checklist/SKILL.md"}, {"name": "api-ops"}]
    fake_llm.script(say("debugging-checklist, api-ops"), say("Plain."))
    list(client.conversations.messages.create(conversation_id=conversation.id, client_skills=skills,
                                              messages=[{"role": "user", "content": "What skills are there?"}]))
    prompt = fake_llm.requests[-1]["messages"][0]["content"]
    assert "<available_skills>\n- debugging-checklist: Use this skill to debug stream wiring. " \
           "(/tmp/.skills/debugging-checklist/SKILL.md)\n- api-ops\n</available_skills>" in prompt
    system_id = client.conversations.retrieve(conversation_id=conversation.id).in_context_message_ids[0]
    assert "<available_skills>" not in client.get(f"/v1/messages/{system_id}", cast_to=list[dict[str, Any]])[0]["content"]
    list(client.conversations.messages.create(conversation_id=conversation.id,
                                              messages=[{"role": "user", "content": "hi"}]))
    assert "<available_skills>" not in fake_llm.requests[-1]["messages"][0]["content"]


def test_a_background_runs_messages_are_filtered_as_its_request_asked(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import time

    agent = _agent(client)
    fake_llm.script({"content": "Searching.", **call("conversation_search", query="tea")}, say("Found nothing."))
    run = client.agents.messages.create_async(agent_id=agent.id, messages=[{"role": "user", "content": "tea?"}],
                                              include_return_message_types=["reasoning_message", "tool_call_message"])
    deadline = time.monotonic() + 60
    while (finished := client.runs.retrieve(run.id)).status == "running":
        assert time.monotonic() < deadline, "the background run never finished"
        time.sleep(0.05)
    assert finished.request_config.include_return_message_types == ["reasoning_message", "tool_call_message"]
    kinds = [m.message_type for m in client.runs.messages.list(run.id)]
    assert kinds == ["reasoning_message", "tool_call_message"]


def test_token_streaming_sends_a_reasoning_models_thinking_before_its_calls(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """The thinking went out after the tool call's deltas (at the end of the step)."""
    agent = _agent(client)
    fake_llm.script({"reasoning": "The user wants a search.", **call("conversation_search", query="tea")},
                    say("Nothing yet."))
    chunks = [c for c in client.agents.messages.stream(agent_id=agent.id, stream_tokens=True, messages=[
        {"role": "user", "content": "tea?"}]) if getattr(c, "message_type", None) not in (None, "ping")]
    kinds = [c.message_type for c in chunks]
    assert kinds[0] == "reasoning_message" and kinds.index("tool_call_message") > max(
        i for i, kind in enumerate(kinds) if kind == "reasoning_message")
    thinking = [c for c in chunks if c.message_type == "reasoning_message"]
    assert "".join(c.reasoning for c in thinking) == "The user wants a search."
    assert len({c.id for c in thinking}) == 1  # one message, in pieces


def test_every_agents_messages_and_passages_listed_and_searched(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """letta-client's messages.list / messages.search / passages.search: across agents, or one."""
    ada, bob = _agent(client), _agent(client, "bob")
    fake_llm.script(say("Noted, the heron."), say("Noted, the kestrel."))
    client.agents.messages.create(agent_id=ada.id, messages=[{"role": "user", "content": "I saw a heron at the lake"}])
    client.agents.messages.create(agent_id=bob.id, messages=[{"role": "user", "content": "a kestrel hovered over the field"}])

    newest = client.messages.list(limit=2)  # every agent's, newest first
    assert [(m.message_type, m.content) for m in newest] == [
        ("assistant_message", "Noted, the kestrel."), ("user_message", "a kestrel hovered over the field")]
    older = client.messages.list(limit=2, after=newest[-1].id)
    assert [m.content for m in older] == ["Noted, the heron.", "I saw a heron at the lake"]
    users = client.messages.list(include_return_message_types=["user_message"], order="asc")
    assert [m.content for m in users] == ["I saw a heron at the lake", "a kestrel hovered over the field"]

    found = client.messages.search(query="which bird hovered over the field")
    assert (found[0].message_type, found[0].agent_id, found[0].content) == (
        "user_message", bob.id, "a kestrel hovered over the field")
    assert all(hit.agent_id == ada.id for hit in client.messages.search(query="kestrel heron", agent_id=ada.id))

    client.agents.passages.create(agent_id=ada.id, text="Ada's locker code is 4471")
    client.agents.passages.create(agent_id=bob.id, text="Bob keeps bees on the roof")
    hits = client.passages.search(query="bees on the roof", limit=2)
    assert [(h.passage.agent_id, h.passage.text) for h in hits][0] == (bob.id, "Bob keeps bees on the roof")
    assert hits[0].score >= hits[1].score
    only = client.passages.search(query="bees on the roof", agent_id=ada.id)
    assert [h.passage.text for h in only] == ["Ada's locker code is 4471"]
    with pytest.raises(letta_client.NotFoundError, match="no archive 'archive-1'"):
        client.passages.search(query="bees", archive_id="archive-1")


def test_tools_are_found_by_what_they_do(client) -> None:  # type: ignore[no-untyped-def]
    """letta-client's tools.search: words, meaning and both, with type and tag filters."""
    shout = client.tools.create(source_code=SHOUT, tags=["voice"])
    hits = client.tools.search(query="search the conversation history for what was said")
    assert hits[0].tool.name == "conversation_search" and hits[0].fts_rank and hits[0].vector_rank
    assert [h.combined_score for h in hits] == sorted((h.combined_score for h in hits), reverse=True)
    by_meaning = client.tools.search(query="say something loudly", search_mode="vector", tool_types=["custom"])
    assert [(h.tool.id, h.fts_rank) for h in by_meaning] == [(shout.id, None)]
    by_words = client.tools.search(query="loudly", search_mode="fts", limit=3)
    assert [h.tool.name for h in by_words] == ["shout"] and by_words[0].vector_rank is None
    assert [h.tool.name for h in client.tools.search(query="memory", tags=["voice"])] == ["shout"]  # by meaning
    assert client.tools.search(query="memory", tags=["no such tag"]) == []
    with pytest.raises(letta_client.UnprocessableEntityError, match="query is empty"):
        client.tools.search(query=" ")


def test_an_agent_answers_an_openai_client_at_chat_completions(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta's /v1/chat/completions through OpenAI's own client: the agent named as the model
    answers the last user message (it keeps the rest), whole or streamed, and remembers it."""
    import openai

    agent = _agent(client)
    base = str(client.base_url).rstrip("/") + "/v1"
    openai_client = openai.OpenAI(base_url=base, api_key="not-needed", max_retries=0)
    fake_llm.script(say("Hello Sam, noted: you like oolong."), say("You like oolong."))
    whole = openai_client.chat.completions.create(model=agent.id, messages=[
        {"role": "system", "content": "ignored: the agent has its own"},
        {"role": "user", "content": "I like oolong tea"}])
    assert whole.choices[0].message.content == "Hello Sam, noted: you like oolong."
    assert whole.choices[0].finish_reason == "stop" and whole.usage.total_tokens > 0 and whole.model == agent.id
    assert whole.id.startswith("chatcmpl-run-")  # named by the turn's run
    pieces = list(openai_client.chat.completions.create(
        model="ada", stream=True, messages=[{"role": "user", "content": [{"type": "text", "text": "What tea do I like?"}]}]))
    assert "".join(p.choices[0].delta.content or "" for p in pieces) == "You like oolong."
    assert pieces[-1].choices[0].finish_reason == "stop"
    said = [m.content for m in client.agents.messages.list(agent_id=agent.id) if m.message_type == "user_message"]
    assert said == ["I like oolong tea", "What tea do I like?"]  # kept by the agent, as any turn
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="agent-00000000-0000-4000-8000-000000000000",
                                              messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        openai_client.chat.completions.create(model=agent.id, messages=[{"role": "assistant", "content": "hi"}])
    assert "no user message" in refused.value.response.json()["detail"]

    # The model's provider failing is an error either way, never an empty answer
    fake_llm.script({"status": 401, "message": "bad key"}, {"status": 401, "message": "bad key"})
    with pytest.raises(openai.APIStatusError):
        openai_client.chat.completions.create(model=agent.id, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.APIError, match="refused the API key"):
        list(openai_client.chat.completions.create(model=agent.id, stream=True,
                                                   messages=[{"role": "user", "content": "hi"}]))


def test_each_waiting_call_of_a_step_is_asked_at_once_and_decided_on_its_own(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta's per-call approvals: a step's three gated calls are asked in one message, then one
    is approved (it runs), one denied (the model reads why) and one answered by the client."""
    tool = client.tools.create(source_code=SHOUT, default_requires_approval=True)
    agent = _agent(client, tool_ids=[tool.id])
    fake_llm.script({"tool_calls": [{"name": "shout", "arguments": {"text": word}} for word in ("one", "two", "three")]},
                    say("Done."))
    asked = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "shout thrice"}])
    request = asked.messages[-1]
    assert request.message_type == "approval_request_message" and asked.stop_reason.stop_reason == "requires_approval"
    ids = [c.tool_call_id for c in request.tool_calls]
    assert len(ids) == 3
    waiting = client.agents.retrieve(agent_id=agent.id, include=["agent.pending_approval"]).pending_approval
    assert [c.tool_call_id for c in waiting.tool_calls] == ids

    decided = client.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approvals": [
        {"type": "approval", "approve": True, "tool_call_id": ids[0]},
        {"type": "approval", "approve": False, "tool_call_id": ids[1], "reason": "too loud"},
        {"type": "tool", "tool_call_id": ids[2], "tool_return": "THREE (said by the client)", "status": "success"}]}])
    returns = {r.tool_call_id: (r.status, r.tool_return) for m in decided.messages
               if m.message_type == "tool_return_message" for r in m.tool_returns}
    assert returns[ids[0]] == ("success", "ONE!")
    assert returns[ids[1]][0] == "error" and "too loud" in returns[ids[1]][1]
    assert returns[ids[2]] == ("success", "THREE (said by the client)")
    assert [m.content for m in decided.messages if m.message_type == "assistant_message"] == ["Done."]
    read = [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert read[0] == "ONE!" and "too loud" in read[1] and read[2] == "THREE (said by the client)"
    with pytest.raises(letta_client.APIError, match="No tool call is currently awaiting approval"):
        client.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approvals": [
            {"type": "approval", "approve": True, "tool_call_id": ids[0]},
            {"type": "approval", "approve": False, "tool_call_id": ids[1]}]}])

    # Listed back as Letta lists it: the decisions as one approval response, then the results.
    after = client.agents.messages.list(agent_id=agent.id, after=request.id).items
    assert [m.message_type for m in after[:4]] == ["approval_response_message", "tool_return_message",
                                                   "tool_return_message", "tool_return_message"]
    response = after[0]
    assert response.approval_request_id == ids[0] and response.approve is True
    assert [(a.type, a.tool_call_id) for a in response.approvals] == [("approval", ids[0]), ("approval", ids[1]),
                                                                       ("tool", ids[2])]
    assert response.approvals[1].approve is False and response.approvals[1].reason == "too loud"
    assert response.approvals[2].tool_return == "THREE (said by the client)"
    again = client.agents.messages.list(agent_id=agent.id, after=request.id).items[0]
    assert (again.id, again.otid) == (response.id, response.otid)  # the same on every read
    run_listed = [m.message_type for m in client.runs.messages.list(decided.messages[0].run_id)]
    assert run_listed[0] == "approval_response_message"


def test_a_decision_sent_again_after_it_was_applied_lets_the_agent_carry_on(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta's idempotent retry: a client that lost the answer to its approval sends it again; the
    call is not run twice, the model goes on from its result (told to carry on), and the turn ends."""
    tool = client.tools.create(source_code=SHOUT, default_requires_approval=True)
    agent = _agent(client, tool_ids=[tool.id])
    fake_llm.script(call("shout", text="hi"), say("Shouted."), say("As I said: HI!"))
    call_id = client.agents.messages.create(agent_id=agent.id, messages=[
        {"role": "user", "content": "shout hi"}]).messages[-1].tool_call.tool_call_id
    approval = [{"type": "approval", "approvals": [{"type": "approval", "approve": True, "tool_call_id": call_id}]}]
    first = client.agents.messages.create(agent_id=agent.id, messages=approval)
    assert [m.tool_return for m in first.messages if m.message_type == "tool_return_message"] == ["HI!"]
    again = client.agents.messages.create(agent_id=agent.id, messages=approval)
    assert again.stop_reason.stop_reason == "end_turn"
    assert [m.content for m in again.messages if m.message_type == "assistant_message"] == ["As I said: HI!"]
    assert [m.message_type for m in again.messages if m.message_type == "tool_return_message"] == []  # not run again
    assert "keep-alive" in fake_llm.requests[-1]["messages"][-1]["content"]
    results = [m for m in client.agents.messages.list(agent_id=agent.id, limit=100).items
               if m.message_type == "tool_return_message" and m.tool_return == "HI!"]
    assert len(results) == 1
    with pytest.raises(letta_client.APIError, match="No tool call is currently awaiting approval"):
        client.agents.messages.create(agent_id=agent.id, messages=[{"type": "approval", "approvals": [
            {"type": "approval", "approve": True, "tool_call_id": "call_never_made"}]}])
    for word in ("one", "two", "three", "four"):  # the results fall behind the last ten messages
        fake_llm.script(say(f"ok {word}"))
        client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": word}])
    with pytest.raises(letta_client.APIError, match="No tool call is currently awaiting approval"):
        client.agents.messages.create(agent_id=agent.id, messages=approval)  # not a retry any more


def test_a_steps_other_calls_wait_for_its_approval_then_run_in_order(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    """Letta holds a step's calls that need no approval until its waiting ones are decided: nothing
    of the step happens before the person decides, and then every call runs (a denial included),
    in the model's order. (memos used to run the ones before and refuse the ones after.)"""
    tool = client.tools.create(source_code=SHOUT, default_requires_approval=True)
    agent = _agent(client, tool_ids=[tool.id])

    def step(before: str, after: str) -> dict[str, Any]:
        return {"tool_calls": [{"name": "core_memory_append", "arguments": {"label": "human", "content": before}},
                               {"name": "shout", "arguments": {"text": "hi"}},
                               {"name": "core_memory_append", "arguments": {"label": "human", "content": after}}]}

    def human() -> str:
        return str(client.agents.blocks.retrieve("human", agent_id=agent.id).value)

    fake_llm.script(step("Likes tea", "Likes boats"), say("Done."))
    asked = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "go"}]).messages
    assert [m.message_type for m in asked][-2:] == ["tool_call_message", "approval_request_message"]
    assert [c.name for c in asked[-2].tool_calls] == ["core_memory_append", "core_memory_append"]
    assert [c.name for c in asked[-1].tool_calls] == ["shout"]
    assert not [m for m in asked if m.message_type == "tool_return_message"] and "Likes" not in human()
    listed = client.agents.messages.list(agent_id=agent.id, order="asc").items
    assert [m.message_type for m in listed][-2:] == ["tool_call_message", "approval_request_message"]

    shout_id = asked[-1].tool_calls[0].tool_call_id
    done = client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approvals": [{"type": "approval", "approve": True, "tool_call_id": shout_id}]}]).messages
    returns = [m for m in done if m.message_type == "tool_return_message"]
    order = [c.tool_call_id for c in asked[-2].tool_calls]
    assert [r.tool_call_id for r in returns] == [order[0], shout_id, order[1]]  # the model's order
    assert [r.status for r in returns] == ["success"] * 3 and returns[1].tool_return == "HI!"
    assert "Likes tea" in human() and "Likes boats" in human()
    after = client.agents.messages.list(agent_id=agent.id, after=asked[-1].id).items
    responses = [m for m in after if m.message_type == "approval_response_message"]
    assert len(responses) == 1 and [a.tool_call_id for a in responses[0].approvals] == [shout_id]

    # Denied, the waiting call returns the denial and the calls held with it still run. The
    # approval request is the response's last message even when the model made that call first.
    first = step("Likes rain", "Likes snow")
    first["tool_calls"].insert(0, first["tool_calls"].pop(1))
    fake_llm.script(first, say("Fine."))
    asked = client.agents.messages.create(agent_id=agent.id, messages=[{"role": "user", "content": "again"}]).messages
    assert [m.message_type for m in asked][-2:] == ["tool_call_message", "approval_request_message"]
    assert "Likes rain" not in human()
    denied = client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approve": False, "approval_request_id": asked[-1].tool_calls[0].tool_call_id,
         "reason": "not now"}]).messages
    assert [r.status for r in denied if r.message_type == "tool_return_message"] == ["error", "success", "success"]
    assert "Likes rain" in human() and "Likes snow" in human()


def test_a_denial_is_listed_as_the_approval_response_before_its_result(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    tool = client.tools.create(source_code=SHOUT, default_requires_approval=True)
    agent = _agent(client, tool_ids=[tool.id])
    fake_llm.script(call("shout", text="hi"), say("Fine, quietly."))
    request = client.agents.messages.create(agent_id=agent.id, messages=[
        {"role": "user", "content": "shout hi"}]).messages[-1]
    call_id = request.tool_call.tool_call_id
    client.agents.messages.create(agent_id=agent.id, messages=[
        {"type": "approval", "approve": False, "approval_request_id": call_id, "reason": "not now"}])
    listed = client.agents.messages.list(agent_id=agent.id, after=request.id).items
    assert [m.message_type for m in listed[:2]] == ["approval_response_message", "tool_return_message"]
    assert (listed[0].approve, listed[0].reason, listed[0].approval_request_id) == (False, "not now", call_id)
    assert listed[1].status == "error" and "not now" in listed[1].tool_return


def test_a_client_that_leaves_a_stream_cancels_its_turn_and_the_partial_reply_stays(client, fake_llm) -> None:  # type: ignore[no-untyped-def]
    import time

    _, run_id = _left_mid_reply(client, fake_llm, _agent(client))  # the model goes on, to nobody
    deadline = time.monotonic() + 60
    while client.runs.retrieve(run_id).status == "running" and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the run's state
    assert client.runs.retrieve(run_id).status == "cancelled"
    kept = [m.content for m in client.runs.messages.list(run_id) if m.message_type == "assistant_message"]
    assert len(kept) == 1 and kept[0].startswith("one") and "one two three four five six seven eight".startswith(kept[0])
