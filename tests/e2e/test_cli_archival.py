"""Archival memory and messages through the installed `memos`, with the real embedding model."""

from __future__ import annotations

import json

import pytest

NOTES = [
    {"text": "Ana's cat is called Miso and sleeps on the keyboard.", "tags": ["pets"]},
    {"text": "The quarterly report is due on the first Monday of March.", "tags": ["work", "deadline"]},
    {"text": "Ana prefers green tea over coffee in the afternoon.", "tags": ["food"]},
    {"text": "The staging database runs PostgreSQL 16 on port 5433.", "tags": ["work", "infra"]},
]


@pytest.mark.slow
def test_archival_add_search_list_rm(memos, tmp_path):
    memos("agents", "create", "ada")
    source = tmp_path / "notes.jsonl"
    source.write_text("\n".join(json.dumps(n) for n in NOTES) + "\n")
    added = memos("archival", "add", "--file", str(source), "--tag", "import", "--json")
    assert added.code == 0, added.err
    passages = added.json()
    assert [p["text"] for p in passages] == [n["text"] for n in NOTES]
    assert passages[1]["tags"] == ["deadline", "import", "work"]
    assert added.err == ""  # no progress bars or model chatter in a pipe

    meaning = memos("archival", "search", "what pet does Ana have", "--mode", "vector", "-k", "1", "--json").json()
    assert meaning[0]["text"].startswith("Ana's cat")
    words = memos("archival", "search", "PostgreSQL port", "--mode", "text", "--json").json()
    assert [h["text"] for h in words] == [NOTES[3]["text"]]
    hybrid = memos("archival", "search", "when is the report due", "--tag", "deadline", "--json").json()
    assert [h["text"] for h in hybrid] == [NOTES[1]["text"]]
    both_tags = memos("archival", "search", "anything", "--tag", "work", "--tag", "infra", "--match", "all",
                      "--mode", "vector", "--json").json()
    assert [h["text"] for h in both_tags] == [NOTES[3]["text"]]

    piped = memos("archival", "add", "--tag", "piped", input="first line note\n\nsecond line note\n")
    assert piped.code == 0 and len(piped.out.split()) == 2 and "added 2 passages" in piped.err

    listed = memos("archival", "list", "--limit", "3", "--json").json()
    assert [p["text"] for p in listed] == [n["text"] for n in NOTES[:3]]
    rest = memos("archival", "list", "--after", listed[-1]["id"], "--json").json()
    assert [p["text"] for p in rest] == [NOTES[3]["text"], "first line note", "second line note"]

    stats = memos("archival", "stats", "--json").json()
    assert stats["total"] == 6 and stats["tags"]["import"] == 4 and stats["tags"]["piped"] == 2

    assert memos("archival", "rm", passages[0]["id"], "--yes").code == 0
    gone = memos("archival", "search", "cat keyboard", "--mode", "text", "--json").json()
    assert gone == []
    unknown = memos("archival", "rm", passages[0]["id"], "--yes")
    assert unknown.code == 1 and "no passage" in unknown.err


def test_bad_jsonl_inserts_nothing_and_names_the_line(memos, tmp_path):
    memos("agents", "create", "ada")
    source = tmp_path / "bad.jsonl"
    source.write_text('{"text": "fine"}\n{"text": "also fine"}\n{"text": 42}\n')
    result = memos("archival", "add", "--file", str(source))
    assert result.code == 1
    assert result.err.startswith("error: line 3 of the input is not a valid JSONL record")
    assert "nothing was inserted" in result.err and "--skip-bad" in result.err
    assert memos("archival", "stats", "--json").json()["total"] == 0
    empty = memos("archival", "add", input="")
    assert empty.code == 1 and "nothing to add" in empty.err or "empty" in empty.err
    binary = memos("archival", "add", "-", input=b"ok line\n\xff\xfe\n")
    assert binary.code == 1 and "not valid UTF-8 (line 2" in binary.err
    assert memos("archival", "stats", "--json").json()["total"] == 0


@pytest.mark.slow
def test_skip_bad_inserts_the_good_lines(memos, tmp_path):
    memos("agents", "create", "ada")
    source = tmp_path / "mixed.jsonl"
    source.write_text('{"text": "fine"}\nnot json\n{"text": "also fine"}\n')
    result = memos("archival", "add", "--file", str(source), "--skip-bad")
    assert result.code == 0
    assert "warning: skipped line 2" in result.err and "skipped 1 bad lines" in result.err
    assert memos("archival", "stats", "--json").json()["total"] == 2


def test_messages_add_list_search_stats(memos):
    memos("agents", "create", "ada")
    for i in range(5):
        memos("messages", "add", f"note number {i} about {'tea' if i % 2 else 'code'}")
    memos("messages", "add", "--role", "assistant", input="I will remember the tea.")
    page = memos("messages", "list", "--limit", "2", "--json").json()
    assert [m["content"] for m in page] == ["I will remember the tea.", "note number 4 about code"]
    older = memos("messages", "list", "--limit", "2", "--after", page[-1]["id"], "--json").json()
    assert [m["content"] for m in older] == ["note number 3 about tea", "note number 2 about code"]
    found = memos("messages", "search", "tea", "--role", "user", "--json").json()
    assert {m["content"] for m in found} == {"note number 1 about tea", "note number 3 about tea"}
    today = memos("messages", "search", "--since", "1h", "--json").json()
    assert len(today) == 6
    assert memos("messages", "search", "--since", "2001-01-01", "--until", "2001-01-02", "--json").json() == []
    bad_date = memos("messages", "search", "--since", "last tuesday")
    assert bad_date.code == 1 and "is not a date" in bad_date.err
    stats = memos("messages", "stats", "--json").json()
    assert stats["total"] == 6 and stats["by_role"] == {"assistant": 1, "user": 5}


@pytest.mark.slow
@pytest.mark.parametrize("model_cache", ["shared", "unusable"])
def test_a_big_import_embeds_and_keeps_its_output_clean(memos, tmp_path, model_cache):
    """Over 1,000 passages, `memos archival add` embeds them on onnxruntime, from the cached ONNX
    copy or (a cache it cannot write) one built in memory: the passages are the same, and nothing
    of the embedding reaches stdout or stderr."""
    import os

    if model_cache == "unusable":
        unusable = tmp_path / "not-a-directory"
        unusable.write_text("")
        os.environ["MEMOS_MODEL_CACHE"] = str(unusable)  # memos_home's monkeypatch restores it
    memos("agents", "create", "ada")
    lines = [f"Note {i}: the shelf number {i} holds tins." for i in range(1_000)] + \
        ["The spare house key hangs behind the blue door."]
    source = tmp_path / "many.txt"
    source.write_text("\n".join(lines) + "\n")
    added = memos("archival", "add", "--file", str(source), "--format", "lines", "--json")
    assert added.code == 0, added.err
    assert added.err == ""
    assert len(added.json()) == len(lines)
    found = memos("archival", "search", "where is the key to the house", "--mode", "vector", "-k", "1", "--json")
    assert found.json()[0]["text"] == lines[-1]


@pytest.mark.slow
def test_ctrl_c_while_onnxruntime_embeds_a_big_import_inserts_nothing(memos, tmp_path):
    """With the ONNX copy the import embeds in its own process; Ctrl-C mid-way keeps nothing."""
    import signal
    import subprocess
    import time
    from pathlib import Path

    from tests.conftest import MEMOS_BIN, as_from_a_terminal

    memos("agents", "create", "bea")
    memos("agents", "create", "warm")
    memos("archival", "add", "--agent", "warm", "make the shared model cache")  # the ONNX copy exists from here
    source = tmp_path / "many.txt"
    source.write_text("".join(f"Line {i} of a long import about shelves and tins.\n" for i in range(6_000)))
    importing = subprocess.Popen([str(MEMOS_BIN), "archival", "add", "--agent", "bea", "--format", "lines",
                                  "--file", str(source)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 preexec_fn=as_from_a_terminal)

    def cpu_seconds() -> float:
        fields = Path(f"/proc/{importing.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks

    deadline = time.monotonic() + 120
    while cpu_seconds() < 2.0:  # past start-up and the model load: embedding is under way
        assert importing.poll() is None, importing.communicate()
        assert time.monotonic() < deadline, "the import never got going"
        time.sleep(0.05)
    importing.send_signal(signal.SIGINT)
    out, err = importing.communicate(timeout=60)
    assert importing.returncode == 130, err
    assert out == "" and "Traceback" not in err, err
    assert memos("archival", "stats", "--agent", "bea", "--json").json()["total"] == 0


@pytest.mark.slow
def test_search_explain_shows_each_modes_rank_and_score(memos):
    memos("agents", "create", "ada")
    facts = ["The user's dog is a border collie named Pixel.", "The user works as a nurse in Leeds.",
             "The user prefers tea over coffee."]
    assert memos("archival", "add", "-", input="\n".join(facts) + "\n").code == 0
    found = memos("archival", "search", "what pet does the user have", "--explain", "--json", "-k", "2")
    assert found.code == 0, found.err
    first = found.json()[0]
    assert first["text"] == facts[0]
    explain = first["explain"]
    assert explain["vector"]["rank"] == 1 and explain["text"]["rank"] is not None
    assert first["score"] == pytest.approx(explain["weights"]["vector"] * explain["vector"]["score"]
                                           + explain["weights"]["text"] * explain["text"]["share"]
                                           + explain["neighbour"]["weight"] * explain["neighbour"]["score"])
    assert explain["neighbour"]["offset"] in (None, 1, 2)  # only passages stored after the dog's
    assert "explain" not in memos("archival", "search", "dog", "--json").json()[0]
    table = memos("archival", "search", "what pet does the user have", "--explain", "-k", "1")
    header, row = table.out.splitlines()
    assert header.split("\t")[:4] == ["score", "vector", "text (share)", "neighbour"]
    assert row.split("\t")[1].startswith("#1 ")
