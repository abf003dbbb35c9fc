"""Several processes on one DuckDB file: every write lands, nobody sees a lock error."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memos.store import open_store
from memos.store.base import NewAgent

ROOT = Path(__file__).resolve().parents[2]
# 960 write transactions from eight processes at once: every one of them waits for the file at
# some point, which is what the test is about; more rounds only made it slower (200 each took
# 3-5 minutes of the suite's 10 and found nothing 60 do not).
WRITERS, READERS, EACH = 8, 2, 60


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.store_worker", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.slow
@pytest.mark.timeout(900)  # under a minute when the machine is idle
def test_eight_writers_two_readers_lose_nothing(tmp_path):
    db = tmp_path / "shared.duckdb"
    store = open_store(db)
    agent = store.create_agent(NewAgent("crowd", "s", "m", "local/all-MiniLM-L6-v2", 1000), [])
    stop = tmp_path / "stop"
    readers = [_spawn("read", str(db), agent.id, str(stop)) for _ in range(READERS)]
    writers = [_spawn("write", str(db), agent.id, str(EACH), str(w)) for w in range(WRITERS)]
    try:
        results = [w.communicate(timeout=600) for w in writers]
    finally:
        stop.touch()
    reader_results = [r.communicate(timeout=60) for r in readers]
    for proc, (out, err) in zip(writers + readers, results + reader_results):
        assert proc.returncode == 0, err.decode()
        assert err.decode() == "", err.decode()
        assert "lock" not in out.decode().lower()
    assert all(b"rounds" in out for out, _ in reader_results)

    counts = store.agent_counts(agent.id)
    assert counts.messages == WRITERS * EACH
    assert counts.passages == WRITERS * EACH
    everything = store.list_messages(agent.id, limit=10_000, order="asc")
    assert {m.content for m in everything} == {f"worker {w} message {i}" for w in range(WRITERS) for i in range(EACH)}
    assert len({m.seq for m in everything}) == WRITERS * EACH
    for w in range(WRITERS):
        texts = [p.text for p in store.list_passages(agent.id, tags=[f"w{w}"], limit=1000)]
        assert texts == [f"worker {w} passage {i}" for i in range(EACH)]  # all there, in write order


def test_lock_held_past_budget_gives_one_clear_line(tmp_path, memos):
    memos("agents", "create", "ada")
    home = Path(os.environ["MEMOS_HOME"])
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(home / 'memos.duckdb.lock')!r}, os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(30)\n")],
        stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        start = time.monotonic()
        result = memos("memory", "set", "human", "Name: Ana", env={"MEMOS_LOCK_TIMEOUT": "1"})
        assert time.monotonic() - start < 20
    finally:
        holder.kill()
        holder.wait()
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the database")
    assert "stayed locked by another process for 1s" in lines[0] and "MEMOS_LOCK_TIMEOUT" in lines[0]
    assert "Traceback" not in result.err
    # Nothing was half-written: the block is as it was, and a later write works.
    assert memos("memory", "show", "human").out.strip() == "Nothing is known about the user yet."
    assert memos("memory", "set", "human", "Name: Ana").code == 0


KILLED_WRITER = """
import sys
from memos.store import open_store
from memos.store.base import NewAgent, NewMessage
store = open_store(__import__("pathlib").Path(sys.argv[1]))
agent = store.create_agent(NewAgent("victim", "s", "m", "local/all-MiniLM-L6-v2", 1000), [])
i = 0
while True:
    store.append_messages(agent.id, [NewMessage("user", f"write {i}")])
    i += 1
    print(i, flush=True)  # committed
"""


def test_writer_killed_mid_stream_loses_no_committed_write(tmp_path):
    db = tmp_path / "crash.duckdb"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(db)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 200:
            break
    proc.kill()  # SIGKILL: no atexit, the kept write connection dies with its WAL
    proc.wait()
    # A read-only first open must recover the WAL, not fail.
    reader = subprocess.run([sys.executable, "-c", (
        "import sys, pathlib\nfrom memos.store import open_store\n"
        "store = open_store(pathlib.Path(sys.argv[1]))\n"
        "agent = store.get_agent('victim')\nprint(store.agent_counts(agent.id).messages)\n"), str(db)],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert reader.returncode == 0, reader.stderr
    assert int(reader.stdout) >= committed
    store = open_store(db)
    contents = [m.content for m in store.list_messages(store.get_agent("victim").id, limit=100_000, order="asc")]
    assert contents == [f"write {i}" for i in range(len(contents))]  # no gaps, no half-written rows


def test_facts_a_kept_connection_remembers_are_refreshed_when_another_writer_comes(tmp_path):
    """The next message seq and 'no pending approval' are remembered while a store keeps the
    file; a second store (its own locks, as another process) writing in between must be seen."""
    from memos.store.base import NewMessage, StepRecord, ToolCallRecord

    path = tmp_path / "memos.duckdb"
    first, second = open_store(path), open_store(path)
    try:
        agent = first.create_agent(NewAgent(name="ada", system="s", model="m", embedding_model="e",
                                            context_window=8000), [])
        seqs = []
        for turn in range(3):
            seqs += [m.seq for m in first.append_messages(agent.id, [NewMessage("user", f"a{turn}")])]
            assert first.pending_tool_calls(agent.id) == []
            seqs += [m.seq for m in second.append_messages(agent.id, [NewMessage("user", f"b{turn}")])]
        assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)
        listed = first.list_messages(agent.id, limit=10, order="asc")
        assert [m.content for m in listed] == ["a0", "b0", "a1", "b1", "a2", "b2"]

        run = second.start_run(agent.id)
        waiting = ToolCallRecord("toolcall-1", agent.id, "call-1", "core_memory_append", "{}", None, "pending", None)
        second.record_step(agent.id, StepRecord(run.id, "m", 1, 1, None, 1.0, "tool_calls"), [], [waiting])
        assert [c.tool_call_id for c in first.pending_tool_calls(agent.id)] == ["call-1"]
    finally:
        first.close()
        second.close()
