"""`memos evolve`: sleep-time passes scripted through the fake LLM, real git repos, the real
sandbox, and `memos` run as cron and a person would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import MEMOS_BIN, agent_dir, end_chat, say, spawn_memos
from tests.e2e.evolving import (
    BROKEN_TEST,
    BUGGY,
    CONSOLIDATE,
    FIXED,
    ROUNDED,
    TEST_WITH_COMMAS,
    evolutions,
    git,
    propose,
)


def test_a_fix_that_passes_is_canaried_under_auto_promoted_and_remembered(memos, fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    before = git(priced_agent, "rev-parse", "HEAD").strip()
    fake_llm.script(CONSOLIDATE, propose("Accept thousands separators",
                                         {"parse_price.py": FIXED, "tests/test_parse_price.py": TEST_WITH_COMMAS}))
    result = memos("evolve", "--sleep", "--policy", "auto", "--json")
    assert result.code == 10, result.err
    outcome = result.json()["agents"][0]
    assert outcome["status"] == "canary" and outcome["consolidated"] == ["human"]
    assert outcome["usage"]["llm_calls"] == 2 and outcome["usage"]["tokens"] == 240  # the fake's 100 + 20, twice
    assert (priced_agent / "parse_price.py").read_text() == BUGGY  # main has not changed yet

    # A person promotes it without waiting for the monitor: now main has it.
    promoted = memos("evolve", "promote", outcome["evolution"], "--yes", "--json")
    assert promoted.code == 0, promoted.err
    assert promoted.json()["status"] == "accepted" and promoted.json()["decided_by"] == "user"
    assert (priced_agent / "parse_price.py").read_text() == FIXED
    assert git(priced_agent, "merge-base", "--is-ancestor", before, "HEAD") == ""
    message = git(priced_agent, "log", "-1", "--format=%B")
    assert "Memos-Made: true" in message and f"Memos-Evolution: {outcome['evolution']}" in message

    [row] = evolutions(memos)
    assert row["status"] == "accepted" and row["tests"] == "passed" and row["decided_by"] == "user"
    assert row["shadow"] == {"replayed": 2, "errors_fixed": 1, "errors_introduced": 0, "outputs_changed": 0}
    shown = memos("evolve", "show", row["id"], "--json").json()
    fixed = [c for c in shown["shadow_report"]["calls"] if c["outcome"] == "error fixed"]
    assert fixed[0]["arguments"] == {"text": "$1,200.50"} and fixed[0]["new"] == "1200.5"
    assert [s["stage"] for s in shown["stages"]] == ["load and test", "replay sample", "full replay"]
    assert [s["status"] for s in shown["stages"]] == ["passed", "passed", "skipped"]
    assert shown["utility"]["parts"]["errors_fixed"] == 1.0 and shown["utility"]["score"] > 0.25

    # Memory consolidation went through the memory tools, recorded as the sleep actor.
    history = memos("memory", "history", "human", "--agent", "ada", "--json").json()
    assert history[-1]["actor"] == "sleep" and history[-1]["new_value"].startswith("Name: Sam. Buys")

    # A later conversation: the agent finds what it changed about itself in archival memory.
    fake_llm.script({"tool_calls": [{"name": "archival_memory_search",
                                     "arguments": {"query": "what did I change in my tools", "tags": ["evolution"]}}]},
                    say("I taught parse_price about thousands separators."))
    recall = memos("send", "--agent", "ada", "--json", "What did you change about yourself?")
    assert recall.code == 0, recall.err
    returned = [m for m in recall.json()["messages"] if m["type"] == "tool_return"]
    assert returned[0]["name"] == "archival_memory_search"
    assert "Tool evolution promoted from canary to every call: Accept thousands separators" in returned[0]["result"]


def test_a_change_that_breaks_its_tests_is_rejected_and_main_is_untouched(memos, fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    head = git(priced_agent, "rev-parse", "HEAD").strip()
    fake_llm.script(CONSOLIDATE, propose("Misparse thousands", {"parse_price.py": FIXED,
                                                                 "tests/test_parse_price.py": BROKEN_TEST}))
    result = memos("evolve", "--sleep", "--policy", "auto", "--json")
    assert result.json()["agents"][0]["status"] == "rejected"
    assert git(priced_agent, "rev-parse", "HEAD").strip() == head
    assert (priced_agent / "parse_price.py").read_text() == BUGGY
    [row] = evolutions(memos)
    assert row["status"] == "rejected" and row["tests"] == "failed"
    assert row["branch"] in git(priced_agent, "branch", "--format=%(refname:short)").split()  # kept for inspection
    assert git(priced_agent, "worktree", "list").count("\n") == 1


def test_shadow_replay_flags_changed_outputs_and_auto_does_not_merge(memos, fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    head = git(priced_agent, "rev-parse", "HEAD").strip()
    rounded_test = TEST_WITH_COMMAS.replace("== 1200.5", "== 1200")
    fake_llm.script(CONSOLIDATE, propose("Round prices", {"parse_price.py": ROUNDED,
                                                           "tests/test_parse_price.py": rounded_test}))
    result = memos("evolve", "--sleep", "--policy", "auto", "--json")
    assert result.code == 11, result.err
    outcome = result.json()["agents"][0]
    assert outcome["status"] == "pending" and "shadow replay flagged" in outcome["detail"]
    assert git(priced_agent, "rev-parse", "HEAD").strip() == head
    [row] = evolutions(memos)
    assert row["tests"] == "passed" and row["shadow"]["outputs_changed"] == 1  # "$3": 3.0 became 3

    diff = memos("evolve", "diff", row["id"])
    assert diff.code == 0 and "+    return round(" in diff.out
    # A person decides after all: accepting starts a canary, promoting merges it.
    accepted = memos("evolve", "accept", row["id"], "--yes", "--json")
    assert accepted.code == 0, accepted.err
    assert accepted.json()["status"] == "canary" and (priced_agent / "parse_price.py").read_text() == BUGGY
    assert memos("evolve", "promote", row["id"], "--yes").code == 0
    assert (priced_agent / "parse_price.py").read_text() == ROUNDED


def test_rollback_restores_the_previous_tree_byte_for_byte(memos, fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    tree_before = git(priced_agent, "rev-parse", "HEAD^{tree}").strip()
    files_before = {p.name: p.read_bytes() for p in priced_agent.rglob("*.py") if ".git" not in p.parts}
    fake_llm.script(CONSOLIDATE, propose("Accept thousands separators",
                                         {"parse_price.py": FIXED, "tests/test_parse_price.py": TEST_WITH_COMMAS}))
    assert memos("evolve", "--sleep", "--policy", "auto").code == 10
    [row] = evolutions(memos)
    assert memos("evolve", "promote", row["id"], "--yes").code == 0
    commits_before = git(priced_agent, "rev-list", "--count", "HEAD").strip()

    refused = memos("evolve", "rollback", row["id"])  # no TTY, no --yes
    assert refused.code == 1 and "--yes" in refused.err

    (priced_agent / "parse_price.py").write_text(FIXED + "# a hand edit\n")
    dirty = memos("evolve", "rollback", row["id"], "--yes")
    assert dirty.code == 1 and "uncommitted changes" in dirty.err
    (priced_agent / "parse_price.py").write_text(FIXED)

    rolled = memos("evolve", "rollback", row["id"], "--yes", "--json")
    assert rolled.code == 0, rolled.err and rolled.json()["status"] == "rolled_back"
    assert git(priced_agent, "rev-parse", "HEAD^{tree}").strip() == tree_before
    assert {p.name: p.read_bytes() for p in priced_agent.rglob("*.py") if ".git" not in p.parts} == files_before
    assert int(git(priced_agent, "rev-list", "--count", "HEAD")) == int(commits_before) + 1  # a new commit
    assert "Memos-Rollback-Of:" in git(priced_agent, "log", "-1", "--format=%B")
    log = memos("evolve", "log", "--json").json()
    assert log[-1]["status"] == "rolled_back"


def test_review_policy_keeps_it_pending_and_reject_archives_the_branch(memos, fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    fake_llm.script(CONSOLIDATE, propose("Accept thousands separators",
                                         {"parse_price.py": FIXED, "tests/test_parse_price.py": TEST_WITH_COMMAS}))
    assert memos("evolve", "--sleep").code == 11  # config default: review
    [row] = evolutions(memos)
    assert row["status"] == "pending"
    retest = memos("evolve", "test", row["id"], "--json")
    assert retest.code == 0 and retest.json()["shadow_report"]["errors_fixed"] == 1
    assert memos("evolve", "reject", row["id"], "--yes").code == 0
    assert row["branch"] in git(priced_agent, "branch", "--format=%(refname:short)").split()  # the archive
    assert (priced_agent / "parse_price.py").read_text() == BUGGY
    again = memos("evolve", "accept", row["id"], "--yes")
    assert again.code == 1 and "is rejected, not pending" in again.err


def test_dry_run_changes_nothing_and_nothing_to_do_exits_zero(memos, fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    dry = memos("evolve", "--sleep", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert dry.json()["agents"][0]["status"] == "would run"
    assert fake_llm.remaining == 0 and len(fake_llm.requests) == 2  # only the send's calls
    assert evolutions(memos) == []
    fake_llm.script(CONSOLIDATE, {"tool_calls": [{"name": "no_change", "arguments": {"reason": "fine"}}]})
    assert memos("evolve", "--sleep").code == 10  # memory was consolidated
    quiet = memos("evolve", "--sleep", "--json")  # nothing new since the last pass
    assert quiet.code == 0 and quiet.json()["agents"][0]["status"] == "nothing to do"


def _spawn_pass(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(MEMOS_BIN), "evolve", "--sleep", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _wait_for(condition, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_second_pass_exits_at_once_and_chat_keeps_working(memos, fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    # Replies in the order they are asked for: the pass's slow one, the pipeline's, the chat's, the pass's next.
    held = threading.Event()  # the pass's model call waits until the chat is done, however slow the machine
    fake_llm.script({**CONSOLIDATE, "gate": held}, say("still here"), say("chatting during the pass"),
                    {"tool_calls": [{"name": "no_change", "arguments": {"reason": "ok"}}]})
    first = _spawn_pass()
    _wait_for(lambda: len(fake_llm.requests) == 3)  # the pass is waiting on the model
    started = time.monotonic()
    second = memos("evolve", "--sleep")
    assert second.code == 12 and "another `memos evolve --sleep` pass is running" in second.err
    assert time.monotonic() - started < 5
    sent = memos("send", "--agent", "ada", "are you there?")  # a pipeline during the pass
    assert sent.code == 0 and sent.out.strip() == "still here"
    chat = spawn_memos("chat", "--agent", "ada", timeout=30)
    chat.expect("you> ")
    chat.sendline("hello?")
    chat.expect("chatting during the pass")
    chat.expect("you> ")
    end_chat(chat)
    assert first.poll() is None, "the pass should still be waiting on the model"
    held.set()
    assert first.wait(timeout=60) == 10, first.stderr.read()


def test_a_killed_pass_is_recovered_by_the_next(memos, fake_llm, priced_agent: Path, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    head = git(priced_agent, "rev-parse", "HEAD").strip()
    fake_llm.script(CONSOLIDATE, {**propose("Never finished", {"parse_price.py": FIXED}), "delay": 30})
    victim = _spawn_pass("--policy", "auto")
    _wait_for(lambda: len(fake_llm.requests) == 4)  # consolidation done, the proposal is being asked for
    _wait_for(lambda: any(r["status"] == "running" for r in evolutions(memos)))
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert git(priced_agent, "rev-parse", "HEAD").strip() == head

    # The next pass consolidates again (the killed one never moved its watermark), then proposes nothing.
    fake_llm.script(CONSOLIDATE, {"tool_calls": [{"name": "no_change", "arguments": {"reason": "ok"}}]})
    recovered = memos("evolve", "--sleep", "--json")
    assert recovered.code in (0, 10), recovered.err
    statuses = sorted(r["status"] for r in evolutions(memos))
    assert "interrupted" in statuses and "running" not in statuses
    assert not (agent_dir(memos_home, "ada") / "evolve-worktrees").exists() or \
        not any((agent_dir(memos_home, "ada") / "evolve-worktrees").iterdir())
    assert git(priced_agent, "status", "--porcelain") == ""


def test_accept_after_the_tools_moved(memos, fake_llm, priced_agent: Path, memos_home: Path) -> None:  # type: ignore[no-untyped-def]
    fake_llm.script(CONSOLIDATE, propose("Accept thousands separators",
                                         {"parse_price.py": FIXED, "tests/test_parse_price.py": TEST_WITH_COMMAS}))
    assert memos("evolve", "--sleep").code == 11
    [row] = evolutions(memos)

    # A person changes the same line meanwhile: accepting is refused and nothing moves.
    (priced_agent / "parse_price.py").write_text(BUGGY.replace('"$"', "'$'"))
    assert memos("tools", "commit", "-m", "Quote style", "--agent", "ada").code == 0
    head = git(priced_agent, "rev-parse", "HEAD").strip()
    conflict = memos("evolve", "accept", row["id"], "--yes")
    assert conflict.code == 1 and "no longer merges cleanly" in conflict.err
    assert git(priced_agent, "rev-parse", "HEAD").strip() == head and git(priced_agent, "status", "--porcelain") == ""

    # A change elsewhere merges (a merge commit), and rolling back keeps the person's change.
    git(priced_agent, "reset", "--hard", "HEAD~1")
    (priced_agent / "README.md").write_text("Tools of ada, with a hand-written note.\n")
    assert memos("tools", "commit", "-m", "Note", "--agent", "ada").code == 0
    assert memos("evolve", "accept", row["id"], "--yes").code == 0  # a canary, then promoted by hand
    assert memos("evolve", "promote", row["id"], "--yes").code == 0
    assert len(git(priced_agent, "log", "-1", "--format=%P").split()) == 2  # a merge commit
    assert (priced_agent / "parse_price.py").read_text() == FIXED
    assert memos("evolve", "rollback", row["id"], "--yes").code == 0
    assert (priced_agent / "parse_price.py").read_text() == BUGGY
    assert (priced_agent / "README.md").read_text() == "Tools of ada, with a hand-written note.\n"
    assert "pass finished" in (memos_home / "logs" / "evolve.log").read_text()


def test_recovery_after_a_kill_between_merge_and_record(fake_llm, priced_agent: Path) -> None:  # type: ignore[no-untyped-def]
    """Killed right after the fast-forward: the row still says pending; the next pass sees the
    commit on main and records the evolution as accepted. A leftover worktree is removed."""
    from memos.core.workspace import Workspace
    from memos.evolve import branches
    from memos.evolve.sleep import recover
    from memos.tools.custom import tool_repo

    ws = Workspace()
    agent = ws.store.get_agent("ada")
    repo = tool_repo(ws, agent)
    base = repo.head()
    evolution = ws.store.create_evolution(agent.id, "evolve/2026-11-25-fix-abc123", base, title="Fix")
    worktree = branches.start_worktree(repo, evolution.branch, base, evolution.id)
    (worktree.path / "parse_price.py").write_text(FIXED)
    head = worktree.commit_all("Fix", trailers={branches.EVOLUTION_TRAILER: evolution.id})
    ws.store.update_evolution(evolution.id, head_commit=head, status="pending")
    branches.fast_forward(repo, head)  # ... and the process dies here, worktree still on disk
    done = recover(ws, agent, repo)
    assert ws.store.get_evolution(evolution.id).status == "accepted"
    assert any("had been merged" in line for line in done) and any("stale worktree" in line for line in done)
    assert branches.stale_worktrees(repo) == []
    ws.close()
