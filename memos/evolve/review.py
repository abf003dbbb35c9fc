"""Decisions on an evolution: run its checks, accept (merge), reject, roll back.

The cron pass and a person reviewing use the same functions. Every decision is
also written to archival memory (tagged `evolution`) so the agent can recall
what it changed about itself and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from memos.core.workspace import Workspace
from memos.errors import InvalidInput
from memos.evolve import branches
from memos.evolve.checks import (
    ShadowReport,
    TestReport,
    changed_tools,
    describe_shadow,
    run_tests,
    shadow_replay,
)
from memos.store.base import Agent, Evolution, EvolutionChanges
from memos.tools.custom import sandbox_limits, tool_repo
from memos.tools.repo import ToolRepo
from memos.tools.sandbox import Sandbox

EVOLUTION_TAG = "evolution"


@dataclass
class CheckResult:
    tests: TestReport
    shadow: ShadowReport

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
                "shadow_report": self.shadow.to_dict()}


def run_checks(ws: Workspace, agent: Agent, repo: ToolRepo, base: str, head: str) -> CheckResult:
    old_files, new_files = branches.files_at(repo, base), branches.files_at(repo, head)
    sandbox = Sandbox(sandbox_limits(ws))
    try:
        tests = run_tests(sandbox, new_files)
        tools = changed_tools(branches.changed_paths(repo, base, head))
        shadow = shadow_replay(ws.store, agent, sandbox, old_files, new_files, tools) if tests.passed else ShadowReport()
    finally:
        sandbox.close()
    return CheckResult(tests, shadow)


def recheck(ws: Workspace, evolution: Evolution) -> tuple[Evolution, CheckResult]:
    agent = ws.store.get_agent(evolution.agent_id)
    repo = tool_repo(ws, agent)
    if not evolution.head_commit or not evolution.base_commit:
        raise InvalidInput(f"evolution {evolution.id} has no commit to check", "it never got as far as a commit")
    result = run_checks(ws, agent, repo, evolution.base_commit, evolution.head_commit)
    return ws.store.update_evolution(evolution.id, **result.reports()), result


def remember(ws: Workspace, agent: Agent, text: str) -> None:
    """The outcome, in the agent's archival memory (what it changed about itself, and why)."""
    from memos.core import archival
    from memos.core.ingest import Record

    archival.insert(ws.store, agent, [Record(text, [EVOLUTION_TAG])])


def summary_text(evolution: Evolution, decision: str, why: str) -> str:
    shadow = evolution.shadow_report or {}
    tests = evolution.test_report or {}
    return (f"Tool evolution {decision}: {evolution.title}. Why it was proposed: {evolution.rationale} "
            f"Checks: tests {'passed' if tests.get('passed') else 'failed'} ({tests.get('summary', 'not run')}); "
            f"{describe_shadow(shadow)}. Decision: {why} (branch {evolution.branch}, evolution {evolution.id}).")


def _pending(evolution: Evolution, doing: str) -> None:
    if evolution.status != "pending":
        raise InvalidInput(f"evolution {evolution.id} is {evolution.status}, not pending", f"only a pending one can be {doing}")


def accept(ws: Workspace, evolution: Evolution, *, decided_by: str = "user", why: str = "accepted") -> Evolution:
    """Merge the branch into the tools' main branch: fast-forward when main has not moved,
    else a merge commit; a conflicting move is refused and nothing changes."""
    _pending(evolution, "accepted")
    agent = ws.store.get_agent(evolution.agent_id)
    repo = tool_repo(ws, agent)
    branches.refuse_unless_clean(repo, "merge the evolution")
    head = branches.branch_head(repo, evolution.branch)
    if head is None or head != evolution.head_commit:
        raise InvalidInput(f"branch {evolution.branch} is gone or moved", "run `memos evolve test` and review it again")
    current = repo.head()
    if current and branches.is_ancestor(repo, current, head):
        branches.fast_forward(repo, head)
    else:
        message = (f"Merge evolution: {evolution.title}\n\n"
                   f"Memos-Made: true\n{branches.EVOLUTION_TRAILER}: {evolution.id}")
        if not branches.merge_commit(repo, head, message):
            raise InvalidInput(f"the tools changed since evolution {evolution.id} was proposed, and the change "
                               "no longer merges cleanly", "reject it; the next pass can propose it again")
    merged = repo.head()
    accepted = ws.store.update_evolution(evolution.id, status="accepted", decided_by=decided_by, head_commit=head)
    ws.store.set_meta(f"evolution.{evolution.id}.merged", merged or "")
    _refresh_attached(ws, agent)
    remember(ws, agent, summary_text(accepted, "accepted", why))
    return accepted


def _refresh_attached(ws: Workspace, agent: Agent) -> None:
    """Reload the tools so stored schemas follow the merged code (running chats reload on their own)."""
    from memos.tools.custom import AgentTools

    tools = AgentTools(ws, agent)
    try:
        tools.load()
    finally:
        tools.close()


def reject(ws: Workspace, evolution: Evolution, *, decided_by: str = "user", why: str = "rejected by a person",
           keep_branch: bool = False) -> Evolution:
    if evolution.status not in ("pending", "running"):
        raise InvalidInput(f"evolution {evolution.id} is {evolution.status}", "only a pending one can be rejected")
    agent = ws.store.get_agent(evolution.agent_id)
    if not keep_branch:
        branches.delete_branch(tool_repo(ws, agent), evolution.branch)
    rejected = ws.store.update_evolution(evolution.id, status="rejected", decided_by=decided_by)
    remember(ws, agent, summary_text(rejected, "rejected", why))
    return rejected


def rollback(ws: Workspace, evolution: Evolution, *, decided_by: str = "user") -> Evolution:
    """Undo an accepted evolution with a new commit (history is never rewritten)."""
    if evolution.status != "accepted":
        raise InvalidInput(f"evolution {evolution.id} is {evolution.status}", "only an accepted one can be rolled back")
    agent = ws.store.get_agent(evolution.agent_id)
    repo = tool_repo(ws, agent)
    branches.refuse_unless_clean(repo, "roll back")
    merged = ws.store.get_meta(f"evolution.{evolution.id}.merged") or evolution.head_commit
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
    rolled = ws.store.update_evolution(evolution.id, status="rolled_back", decided_by=decided_by)
    _refresh_attached(ws, agent)
    remember(ws, agent, summary_text(rolled, "rolled back", f"rolled back by {decided_by}"))
    return rolled
