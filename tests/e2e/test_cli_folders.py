"""Folders from the terminal: `memos folders create/upload/files/attach/open/rm`, and an agent
reading an attached folder through `memos send`."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import call, say


def test_a_folder_an_agent_reads_from_the_terminal(memos, chat_agent, fake_llm, tmp_path: Path):  # type: ignore[no-untyped-def]
    notes = tmp_path / "oncall.md"
    notes.write_text("# On call\nThe database password rotates on Mondays.\nPage Sam for outages.\n")
    other = tmp_path / "faq.txt"
    other.write_text("Q: Where is the office?\nA: Oslo.\n")
    assert memos("folders", "create", "runbooks", "--description", "Team runbooks").code == 0
    added = memos("folders", "upload", "runbooks", str(notes), str(other))
    assert added.code == 0, added.err
    assert "added oncall.md to 'runbooks'" in added.err
    piped = memos("folders", "upload", "runbooks", "-", "--name", "piped.txt", "--json", input="from a pipe\n")
    assert piped.code == 0 and piped.json()[0]["file_name"] == "piped.txt"
    listed = memos("folders", "files", "runbooks", "--json").json()
    assert [f["file_name"] for f in listed] == ["faq.txt", "oncall.md", "piped.txt"]

    binary = tmp_path / "logo.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    refused = memos("folders", "upload", "runbooks", str(other), str(binary))
    assert refused.code == 1 and "looks binary" in refused.err and "Traceback" not in refused.err
    assert len(memos("folders", "files", "runbooks", "--json").json()) == 3  # faq.txt was not added again

    assert memos("folders", "attach", "runbooks").code == 0
    fake_llm.script(call("grep_files", pattern="password"),
                    call("open_files", file_requests=[{"file_name": "runbooks/oncall.md"}]),
                    say("It rotates on Mondays."))
    sent = memos("send", "When does the database password change?")
    assert sent.code == 0, sent.err
    assert "It rotates on Mondays." in sent.out
    grep_return = fake_llm.requests[1]["messages"][-1]["content"]
    assert "runbooks/oncall.md:2" in grep_return
    assert "2: The database password rotates on Mondays." in fake_llm.requests[2]["messages"][0]["content"]
    opened = memos("folders", "open", "--json").json()
    assert [(f["file"], f["open"]) for f in opened] == [
        ("runbooks/faq.txt", False), ("runbooks/oncall.md", True), ("runbooks/piped.txt", False)]

    parts = {p["name"]: p for p in memos("context", "--json").json()["parts"]}
    assert parts["files"]["tokens"] > 0 and parts["files"]["detail"] == "1 open"
    assert memos("folders", "detach", "runbooks").code == 0
    fake_llm.script(say("ok"))
    assert memos("send", "hi").code == 0
    offered = {t["function"]["name"] for t in fake_llm.requests[-1]["tools"]}
    assert "grep_files" not in offered and "<directories>" not in fake_llm.requests[-1]["messages"][0]["content"]
    assert memos("folders", "rm-file", "runbooks", "faq.txt", "--yes").code == 0
    assert memos("folders", "rm", "runbooks", "--yes").code == 0
    assert memos("folders", "list", "--json").json() == []
    missing = memos("folders", "files", "runbooks")
    assert missing.code == 1 and "no folder 'runbooks'" in missing.err
