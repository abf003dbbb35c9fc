"""`memos chat` in a real pseudo-terminal, against the fake LLM."""

from __future__ import annotations

import re

import pexpect

from tests.conftest import agent_dir, call, end_chat, say, spawn_memos

PROMPT = "you> "


def _spawn(extra_env: dict[str, str] | None = None) -> pexpect.spawn:
    return spawn_memos("chat", extra_env=extra_env)


def test_chat_session_with_memory_edit_slash_commands_and_ctrl_d(memos, chat_agent, fake_llm):
    fake_llm.script(
        call("core_memory_append", label="human", content="Likes oolong tea"),
        say("Noted: you like **oolong** tea."),
    )
    child = _spawn()
    child.expect("memos chat · agent ada")
    child.expect(PROMPT)
    child.sendline("/help")
    child.expect("/archival <query>")
    child.expect(PROMPT)
    child.sendline("I like oolong tea")
    child.expect("memory 'human'")
    child.expect(r"\+Likes oolong tea")  # the edit shows as a diff
    child.expect("oolong")
    child.expect(PROMPT)
    child.sendline("/memory human")
    child.expect("Likes oolong tea")
    child.expect(PROMPT)
    child.sendline("/nope")
    child.expect("unknown command /nope")
    child.expect(PROMPT)
    end_chat(child)
    assert memos("memory", "show", "human").out.endswith("Likes oolong tea\n")


def test_ctrl_c_stops_a_reply_then_ctrl_c_at_prompt_exits_130(memos, chat_agent, fake_llm):
    # 20 s of reply, so the interrupt lands mid-stream however busy the machine is
    fake_llm.script({"content": "counting: " + " ".join(["one two three four five six seven eight nine"] * 4) + " ten",
                     "chunk_delay": 0.5})
    child = _spawn()
    child.expect(PROMPT)
    child.sendline("count slowly")
    child.expect("counting")
    child.sendintr()
    child.expect("interrupted")
    child.expect(PROMPT)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    last = memos("messages", "list", "--limit", "1", "--json").json()[0]
    assert last["role"] == "assistant" and last["content"].startswith("counting")
    assert "ten" not in last["content"]


def test_first_run_without_provider_explains_what_to_set(memos, monkeypatch):
    memos("agents", "create", "ada", "--model", "openai/gpt-4o-mini")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    child = _spawn({"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""})
    child.expect("no API key for openai")
    child.expect("OPENAI_API_KEY=sk-")
    child.expect("ollama")
    child.expect(PROMPT)
    child.sendline("/memory persona")
    child.expect("helpful, curious assistant")
    child.expect(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_running_chat_picks_up_added_changed_and_broken_tools(memos, chat_agent, fake_llm, memos_home):
    repo = agent_dir(memos_home, "ada") / "tools"
    fake_llm.script(call("double", n=21), say("It is 42."), call("double", n=5), say("Now it is 15."))
    child = _spawn()
    child.expect(PROMPT)
    (repo / "double.py").write_text(
        'def double(n: int) -> int:\n    """Double a number.\n\n    Args:\n        n: The number.\n    """\n'
        "    return n * 2\n")
    child.expect("tool double added")  # the watcher loaded and attached it, no restart
    child.sendline("double 21")
    child.expect("It is 42")
    child.expect(PROMPT)
    assert "double" in {t["function"]["name"] for t in fake_llm.requests[0]["tools"]}
    assert [m for m in fake_llm.requests[1]["messages"] if m["role"] == "tool"][-1]["content"] == "42"

    (repo / "double.py").write_text((repo / "double.py").read_text().replace("n * 2", "n * 3"))
    child.expect("tool double updated")
    (repo / "double.py").write_text("def double(n: int) -> int:\n    return n *\n")  # a broken save
    child.expect("tool double is broken")
    child.expect("still using its last good version")
    child.sendline("double 5")
    child.expect("Now it is 15")
    child.expect(PROMPT)
    assert [m for m in fake_llm.requests[3]["messages"] if m["role"] == "tool"][-1]["content"] == "15"
    child.sendline("/tools")
    child.expect(r"double\s+custom\s+BROKEN double.py:2")
    child.expect(PROMPT)
    end_chat(child)


def test_streamed_markdown_is_rendered_on_a_real_terminal(memos, chat_agent, fake_llm):
    fake_llm.script({"content": "Here is **bold** advice:\n\n- first item\n- second item", "chunk_delay": 0.05})
    child = _spawn({"TERM": "xterm-256color"})
    child.expect(PROMPT)
    child.sendline("advise me")
    child.expect("second item")
    child.expect(PROMPT)
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)  # without the terminal's control codes
    assert "**bold**" not in shown and "Here is bold advice" in shown  # markdown, not its source
    assert "• first item" in shown and "- first item" not in shown
    end_chat(child)
