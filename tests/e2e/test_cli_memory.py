"""Agents and core memory through the installed `memos`, as a person or a script uses it."""

from __future__ import annotations

import os
import stat


def test_agent_lifecycle(memos, memos_home):
    created = memos("agents", "create", "ada", "--description", "research helper", "--json")
    assert created.code == 0, created.err
    data = created.json()
    assert data["name"] == "ada" and data["id"].startswith("agent-")
    assert {b["label"]: b["limit"] for b in data["blocks"]} == {"persona": 20000, "human": 20000}
    assert (memos_home / "agents" / data["id"] / "tools" / ".git").is_dir() and (memos_home / "memos.duckdb").exists()
    assert memos("agents", "create", "ada").err.strip() == "error: an agent named 'ada' already exists (pick another name)"

    memos("agents", "create", "bob")
    listed = memos("agents", "list", "--json").json()
    assert [a["name"] for a in listed] == ["ada", "bob"]
    plain = memos("agents", "list")
    assert plain.out.splitlines()[0].split("\t")[:2] == ["name", "model"]  # a pipe gets plain TSV, no box drawing

    ambiguous = memos("memory", "show")
    assert ambiguous.code == 1 and "several agents exist (ada, bob)" in ambiguous.err
    assert memos("agents", "use", "bob").code == 0
    assert memos("memory", "show", "human", "--json").json()["agent_ids"] == [listed[1]["id"]]

    assert memos("agents", "rename", "bob", "carl").code == 0
    assert (memos_home / "agents" / listed[1]["id"] / "tools" / ".git").is_dir()  # its files stay with its id
    assert sorted(p.name for p in (memos_home / "agents").iterdir()) == sorted(a["id"] for a in listed)
    assert memos("config", "get", "default_agent").out.strip() == "carl"

    refused = memos("agents", "rm", "carl")  # stdin is not a terminal: no silent deletion
    assert refused.code == 1 and "pass --yes" in refused.err
    assert memos("agents", "rm", "carl", "--yes").code == 0
    assert [a["name"] for a in memos("agents", "list", "--json").json()] == ["ada"]
    missing = memos("agents", "show", "carl")
    assert missing.code == 1 and missing.err.strip() == "error: no agent named 'carl' (see `memos agents list`)"


def test_memory_edits_history_undo_rollback(memos):
    memos("agents", "create", "ada")
    assert memos("memory", "set", "human", "Name: Ana").code == 0
    assert memos("memory", "append", "human", "Likes tea").code == 0
    piped = memos("memory", "append", "human", input="Works on compilers\n")
    assert piped.code == 0, piped.err
    assert memos("memory", "replace", "human", "tea", "green tea").code == 0
    assert memos("memory", "show", "human").out == "Name: Ana\nLikes green tea\nWorks on compilers\n"

    history = memos("memory", "history", "human", "--json").json()
    assert [h["version"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["old_value"] == "Name: Ana\nLikes tea\nWorks on compilers"

    assert memos("memory", "undo", "human").code == 0
    assert memos("memory", "show", "human").out == "Name: Ana\nLikes tea\nWorks on compilers\n"
    assert memos("memory", "rollback", "human", "--to", "2").code == 0
    assert memos("memory", "show", "human").out == "Name: Ana\n"
    diff = memos("memory", "history", "human", "--diff")
    assert "+Likes green tea" in diff.out


def test_editor_edits_block_on_a_terminal(memos, tmp_path):
    """With no value and a terminal on stdin, `memory set` opens $EDITOR on the current value."""
    import pexpect

    from tests.conftest import MEMOS_BIN

    memos("agents", "create", "ada")
    editor = tmp_path / "fake-editor"
    editor.write_text("#!/bin/sh\nsed -i 's/Nothing is known about the user yet./Name: Eve/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    child = pexpect.spawn(str(MEMOS_BIN), ["memory", "set", "human"], env={**os.environ, "EDITOR": str(editor)},
                          timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert memos("memory", "show", "human").out == "Name: Eve\n"
    unsaved = pexpect.spawn(str(MEMOS_BIN), ["memory", "set", "human"], env={**os.environ, "EDITOR": "true"}, timeout=60)
    unsaved.expect(pexpect.EOF)
    unsaved.close()
    assert unsaved.exitstatus == 1 and b"closed without saving" in unsaved.before


def test_custom_blocks_limits_read_only_and_sharing(memos):
    memos("agents", "create", "ada")
    memos("agents", "create", "bob")
    block_id = memos("memory", "create", "project", "memos v1", "--limit", "20", "--agent", "ada").out.strip()
    assert block_id.startswith("block-")
    over = memos("memory", "append", "project", "ships on friday", "--agent", "ada")
    assert over.code == 1
    assert over.err.strip() == ("error: block 'project' would be 24 chars, limit 20 (shorten it or raise the limit "
                                "with `memos memory update project --limit N`)")
    assert memos("memory", "update", "project", "--limit", "100", "--read-only", "--agent", "ada").code == 0
    assert memos("memory", "append", "project", "ships on friday", "--agent", "ada").code == 0  # people may edit

    assert memos("memory", "attach", block_id, "--agent", "bob").code == 0
    assert memos("memory", "show", "project", "--agent", "bob").out == "memos v1\nships on friday\n"
    shared = memos("memory", "delete", "project", "--yes", "--agent", "ada")
    assert shared.code == 1 and "shared with 1 other agent" in shared.err
    blocks = memos("memory", "blocks", "--json").json()
    assert len([b for b in blocks if b["id"] == block_id][0]["agent_ids"]) == 2


def test_bad_input_one_line_nonzero_nothing_written(memos):
    memos("agents", "create", "ada")
    before = memos("memory", "history", "human", "--json").json()
    cases = [
        (["memory", "set", "nope", "x"], "error: no block labelled 'nope' (this agent's blocks: persona, human)"),
        (["memory", "set", "human", "-"], "error: the value for block 'human' is empty"),
        (["memory", "replace", "human", "absent text", "x"], "error: the text to replace does not occur in block 'human'"),
        (["memory", "rollback", "human", "--to", "7"], "error: block 'human' has no version 7"),
        (["memory", "show", "--agent", "zed"], "error: no agent named 'zed'"),
        (["config", "set", "providers.openai.api_key", "sk-1"], "error: 'providers.openai.api_key' looks like a secret"),
    ]
    for args, start in cases:
        result = memos(*args, input="")
        assert result.code == 1, args
        assert result.err.startswith(start), (args, result.err)
        assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
        assert result.out == ""
    invalid = memos("memory", "set", "human", "-", input=b"caf\xe9\n")
    assert invalid.code == 1 and "not valid UTF-8 (line 1, byte 3)" in invalid.err
    too_long = memos("memory", "set", "human", "x" * 20_001)
    assert too_long.code == 1 and "would be 20,001 chars, limit 20,000" in too_long.err
    assert memos("memory", "history", "human", "--json").json() == before  # nothing half-written
    usage = memos("memory", "rollback", "human")
    assert usage.code == 2  # a usage error, as documented


def test_config_show_never_prints_keys(memos):
    result = memos("config", "show", "--json", env={"OPENAI_API_KEY": "sk-secret-value"})
    data = result.json()
    assert data["provider_keys"]["openai"] == {"variable": "OPENAI_API_KEY", "set": True}
    assert "sk-secret-value" not in result.out
    assert memos("config", "set", "context_window", "32k").code == 1
    assert memos("config", "set", "context_window", "32000").code == 0
    assert memos("config", "get", "context_window").out.strip() == "32000"
