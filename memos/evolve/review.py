"""Decisions on an evolution: run its checks, accept (merge), reject, roll back.

The cron pass and a person reviewing use the same functions. Every decision is
also written to archival memory (tagged `evolution`) so the agent can recall
what it changed about itself and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memos.core.workspace import Workspace
from memos.errors import InvalidInput
from memos.evolve import branches, canary
from memos.evolve.checks import (
    ShadowReport,
    TestReport,
    changed_tools,
    describe_shadow,
    recorded_calls,
    replayable,
    run_tests,
    shadow_replay,
)
from memos.evolve.memory import remember, summary_text
from memos.evolve.merge import merge_evolution
from memos.store.base import Agent, Evolution, EvolutionChanges
from memos.tools.custom import sandbox_limits
from memos.tools.repo import ToolRepo
from memos.tools.sandbox import Sandbox
from memos.tools.shared_code import changing, tool_repo


@dataclass
class CheckResult:
    tests: TestReport
    shadow: ShadowReport
    stages: list[dict[str, Any]] = field(default_factory=list)
    new_tools: int = 0

    @property
    def passed(self) -> bool:
        return self.tests.passed

    @property
    def clean(self) -> bool:
        """Passed, and shadow replay saw no call get worse or change its output."""
        return self.tests.passed and self.shadow.regressions == 0

    def reports(self) -> EvolutionChanges:
        return {"test_report": {"passed": self.tests.passed, "summary": self.tests.summary,
                                "output": self.tests.output},
                "shadow_report": self.shadow.to_dict(), "stages": self.stages}


def _stage(name: str, status: str, summary: str) -> dict[str, Any]:
    return {"stage": name, "status": status, "summary": summary}


def run_checks(ws: Workspace, agent: Agent, repo: ToolRepo, base: str, head: str) -> CheckResult:
    """Staged, cheapest first, stopping at the first stage that fails: (1) the changed files load
    and the repo's tests pass; (2) shadow replay of a sample of recorded calls (errors first,
    then the most recent); (3) the full replay, only when the sample showed no regression."""
    old_files, new_files = repo.files_at(base), repo.files_at(head)
    tools = changed_tools(branches.changed_paths(repo, base, head))
    sample_size, full_size = int(ws.config.get("evolve.replay.sample")), int(ws.config.get("evolve.replay.full"))
    sandbox = Sandbox(sandbox_limits(ws))
    shadow, stages = ShadowReport(), []
    try:
        tests = _load_and_test(sandbox, new_files, tools)
        stages.append(_stage("load and test", "passed" if tests.passed else "failed", tests.summary))
        replayed = replayable(tools, old_files, new_files, shadow)
        new_tools = sum(1 for t in tools if f"{t}.py" not in old_files and f"{t}.py" in new_files)
        if not tests.passed:
            stages += [_stage("replay sample", "skipped", "the tests failed"),
                       _stage("full replay", "skipped", "the tests failed")]
            return CheckResult(tests, shadow, stages, new_tools)
        calls = recorded_calls(ws.store, agent, replayed, full_size)
        shadow_replay(sandbox, old_files, new_files, calls[:sample_size], shadow)
        flagged = shadow.regressions
        stages.append(_stage("replay sample", "failed" if flagged else "passed",
                             f"{len(shadow.calls)} recorded call(s): {describe_shadow(shadow.to_dict(), short=True)}"))
        if flagged:
            stages.append(_stage("full replay", "skipped", "the sample showed a regression"))
        elif len(calls) > sample_size:
            before = len(shadow.calls)
            shadow_replay(sandbox, old_files, new_files, calls[sample_size:], shadow)
            stages.append(_stage("full replay", "failed" if shadow.regressions else "passed",
                                 f"{len(shadow.calls) - before} more recorded call(s): "
                                 f"{describe_shadow(shadow.to_dict(), short=True)}"))
        else:
            stages.append(_stage("full replay", "skipped", "the sample held every recorded call"))
    finally:
        sandbox.close()
    return CheckResult(tests, shadow, stages, new_tools)


def _load_and_test(sandbox: Sandbox, files: dict[str, str], tools: list[str]) -> TestReport:
    present = [t for t in tools if f"{t}.py" in files]
    if present:
        loaded = sandbox.describe(files, present)
        if not loaded.ok:
            return TestReport(False, f"the tools did not load: {loaded.message}", "")
        problems = loaded.value.get("problems") or []
        if problems:
            first = problems[0]
            where = f"{first['file']}:{first['line']}" if first.get("line") else first["file"]
            return TestReport(False, f"{where} does not load: {first['error']}", "")
    return run_tests(sandbox, files)


def recheck(ws: Workspace, evolution: Evolution) -> tuple[Evolution, CheckResult]:
    agent = ws.store.get_agent(evolution.agent_id)
    repo = tool_repo(ws, agent)
    if not evolution.head_commit or not evolution.base_commit:
        raise InvalidInput(f"evolution {evolution.id} has no commit to check", "it never got as far as a commit")
    result = run_checks(ws, agent, repo, evolution.base_commit, evolution.head_commit)
    return ws.store.update_evolution(evolution.id, **result.reports()), result


def _pending(evolution: Evolution, doing: str) -> None:
    if evolution.status != "pending":
        raise InvalidInput(f"evolution {evolution.id} is {evolution.status}, not pending", f"only a pending one can be {doing}")


def accept(ws: Workspace, evolution: Evolution, *, decided_by: str = "user", why: str = "accepted") -> Evolution:
    """Accept a pending evolution: a canary first when it changes existing tools (and canaries
    are on), else merged into the tools' main branch at once."""
    _pending(evolution, "accepted")
    started = canary.start(ws, evolution, decided_by=decided_by, why=why)
    if started is not None:
        return started
    return _merge(ws, evolution, decided_by=decided_by, why=why)


def _merge(ws: Workspace, evolution: Evolution, *, decided_by: str, why: str) -> Evolution:
    agent = ws.store.get_agent(evolution.agent_id)
    with changing(ws, agent) as repo:
        merged = merge_evolution(repo, evolution)
    accepted = ws.store.update_evolution(evolution.id, status="accepted", decided_by=decided_by, reason=why)
    ws.store.set_meta(f"evolution.{evolution.id}.merged", merged)
    _refresh_attached(ws, agent)
    remember(ws, agent, summary_text(accepted, "accepted", why))
    return accepted


def promote(ws: Workspace, evolution: Evolution, *, decided_by: str = "user",
            why: str = "promoted by a person") -> Evolution:
    """Merge a canary now, whatever the monitor would say."""
    promoted = canary.promote(ws, evolution, decided_by=decided_by, why=why, figures=canary.health(ws, evolution)
                              if evolution.status == "canary" else None)
    _refresh_attached(ws, ws.store.get_agent(promoted.agent_id))
    return promoted


def settle_canaries(ws: Workspace, agent: Agent) -> list[str]:
    """The monitor's verdict on every canary of the agent, acted on (the sleep pass runs this, so
    a canary without traffic is still promoted when its hours are up); returns what happened."""
    done = []
    for evolution in ws.store.list_evolutions(agent.id, status="canary"):
        settled, figures = canary.settle(ws, evolution)
        if settled.status == "accepted":
            _refresh_attached(ws, agent)
            done.append(f"canary {settled.id} promoted: {figures.reason}")
        elif settled.status == "rolled_back":
            done.append(f"canary {settled.id} rolled back: {figures.reason}")
    return done


def _refresh_attached(ws: Workspace, agent: Agent) -> None:
    """Reload the tools so stored schemas follow the merged code (running chats reload on their own)."""
    from memos.tools.custom import AgentTools

    tools = AgentTools(ws, agent)
    try:
        tools.load()
    finally:
        tools.close()


def reject(ws: Workspace, evolution: Evolution, *, decided_by: str = "user",
           why: str = "rejected by a person") -> Evolution:
    """Reject a pending evolution. Its branch stays: the archive of attempts, which the next
    proposal for the same tools is shown (what was tried, and why it failed)."""
    if evolution.status not in ("pending", "running"):
        raise InvalidInput(f"evolution {evolution.id} is {evolution.status}", "only a pending one can be rejected")
    agent = ws.store.get_agent(evolution.agent_id)
    rejected = ws.store.update_evolution(evolution.id, status="rejected", decided_by=decided_by, reason=why)
    remember(ws, agent, summary_text(rejected, "rejected", why))
    return rejected


def rollback(ws: Workspace, evolution: Evolution, *, decided_by: str = "user") -> Evolution:
    """End a canary (main never had it), or undo an accepted evolution with a new commit
    (history is never rewritten)."""
    if evolution.status == "canary":
        return canary.roll_back(ws, evolution, decided_by=decided_by, why=f"rolled back by {decided_by}",
                                figures=canary.health(ws, evolution))
    if evolution.status != "accepted":
        raise InvalidInput(f"evolution {evolution.id} is {evolution.status}", "only an accepted one can be rolled back")
    agent = ws.store.get_agent(evolution.agent_id)
    merged = ws.store.get_meta(f"evolution.{evolution.id}.merged") or evolution.head_commit
    with changing(ws, agent) as repo:
        _revert(repo, evolution, merged)
    rolled = ws.store.update_evolution(evolution.id, status="rolled_back", decided_by=decided_by,
                                       reason=f"rolled back by {decided_by}")
    _refresh_attached(ws, agent)
    remember(ws, agent, summary_text(rolled, "rolled back", f"rolled back by {decided_by}"))
    return rolled


def _revert(repo: ToolRepo, evolution: Evolution, merged: str | None) -> None:
    """Undo an accepted evolution's merge (commit ``merged``) in the tool repo with a new commit."""
    branches.refuse_unless_clean(repo, "roll back")
    base, head = evolution.base_commit, evolution.head_commit
    if not merged or not base or not head:
        raise InvalidInput(f"evolution {evolution.id} has no recorded merge to undo")
    own = branches.commits_between(repo, base, head)  # the evolution's commits, on its branch
    hand_made = [c[:10] for c in own if not branches.memos_made(repo, c)]
    if hand_made:
        raise InvalidInput(f"evolution {evolution.id} includes commits memos did not make ({', '.join(hand_made)})",
                           "undo hand-made changes by hand")
    # A fast-forward is undone commit by commit; a merge commit (main had moved) by reverting
    # the merge against main's side, which leaves the changes made meanwhile in place.
    undo = ["-m", "1", merged] if merged != head else [f"{base}..{head}"]
    if not branches.revert_uncommitted(repo, *undo):
        raise InvalidInput(f"later changes to the tools conflict with undoing evolution {evolution.id}",
                           "undo them first, or edit the tools by hand")
    repo.commit_all(f"Roll back evolution: {evolution.title}",
                    trailers={branches.EVOLUTION_TRAILER: evolution.id, "Memos-Rollback-Of": merged})
