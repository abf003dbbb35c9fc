"""`memos evolve --sleep`: the sleep-time pass, made for cron.

One pass at a time (a lock file; a second pass exits at once), a log under
`$MEMOS_HOME/logs/`, and per agent: recover what an interrupted pass left,
consolidate memory, ask for one tool change, check it, decide by policy.

Crash safety: the evolution row is written (status `running`) before the LLM
is asked; the branch lives in its own worktree until a decision; the main
checkout changes only by a fast-forward or merge, after which the row says
`accepted`. The next pass finds a `running` row and marks it `interrupted`
(removing its worktree and unmerged branch), and a `pending` row whose commit
already reached main (killed right after the merge) as accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from memos.core.llm import LLM
from memos.core.workspace import Workspace
from memos.errors import DatabaseBusy, MemosError
from memos.evolve import branches, proposals, review
from memos.evolve.budget import BudgetedLLM, BudgetReached
from memos.evolve.consolidate import consolidate
from memos.evolve.memory import evolve_log, remember, summary_text
from memos.evolve.utility import score
from memos.store.base import ALL_CONVERSATIONS, Agent, Evolution, EvolutionStatus, Message
from memos.tools.repo import ToolRepo
from memos.tools.shared_code import changing, tool_repo

# Exit codes of `memos evolve --sleep` (documented in the README).
EXIT_NOTHING, EXIT_ERROR, EXIT_CHANGED, EXIT_PENDING, EXIT_BUSY = 0, 1, 10, 11, 12
MAX_MESSAGES = 400  # since the last pass, for consolidation and proposals


class AlreadyRunning(MemosError):
    exit_code = EXIT_BUSY


# What a pass did for one agent: the status of the evolution it made, if it got that far.
OutcomeStatus = EvolutionStatus | Literal["nothing to do", "would run", "error"]


@dataclass
class AgentOutcome:
    agent: str
    recovered: list[str] = field(default_factory=list)
    consolidated: list[str] = field(default_factory=list)  # block labels edited
    learnings: int = 0
    evolution: str | None = None
    status: OutcomeStatus = "nothing to do"
    detail: str = ""
    usage: dict[str, Any] | None = None  # what the pass spent on this agent


@dataclass
class PassReport:
    outcomes: list[AgentOutcome] = field(default_factory=list)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        statuses = {o.status for o in self.outcomes}
        if "error" in statuses:
            return EXIT_ERROR
        if "pending" in statuses:
            return EXIT_PENDING
        if statuses & {"accepted", "canary"} or any(o.consolidated or o.learnings for o in self.outcomes):
            return EXIT_CHANGED
        return EXIT_NOTHING


@contextmanager
def pass_lock(ws: Workspace) -> Iterator[None]:
    """One pass at a time for the whole store: on PostgreSQL across every machine, held by the
    pass's own database session, so a pass whose machine died lets go with it (and only then
    does the next pass recover what it left)."""
    with ExitStack() as held:
        try:
            held.enter_context(ws.store.cluster_lock("evolve-pass", 0))
        except DatabaseBusy:
            raise AlreadyRunning("another `memos evolve --sleep` pass is running",
                                 "this one exits; the next cron run will do the work") from None
        yield


# -- recovery ------------------------------------------------------------------------------
def recover(ws: Workspace, agent: Agent, repo: ToolRepo) -> list[str]:
    """Tidy what an interrupted pass left behind; returns what was done, for the report."""
    done: list[str] = []
    stale = ws.store.interrupt_running_runs(agent.id, actor="sleep")  # the pass lock is ours: none is live
    if stale:
        done.append(f"{len(stale)} run(s) of an interrupted pass marked interrupted")
    rows = {e.id: e for e in ws.store.list_evolutions(agent.id)}
    for evolution in rows.values():
        if evolution.status == "running":
            branches.remove_worktree(repo, evolution.id)
            head = branches.branch_head(repo, evolution.branch) if evolution.branch else None
            main = repo.head()
            if head and main and branches.is_ancestor(repo, head, main):
                continue  # cannot happen without a decision; leave it for a person
            if evolution.branch:
                branches.delete_branch(repo, evolution.branch)
            ws.store.update_evolution(evolution.id, status="interrupted", decided_by="recovery")
            done.append(f"evolution {evolution.id} was interrupted; its worktree and branch were removed")
        elif evolution.status in ("pending", "canary") and evolution.head_commit:
            main = repo.head()
            if main and branches.is_ancestor(repo, evolution.head_commit, main):  # killed between merge and record
                ws.store.update_evolution(evolution.id, status="accepted", decided_by="recovery")
                ws.store.set_meta(f"evolution.{evolution.id}.merged", main)
                done.append(f"evolution {evolution.id} had been merged; recorded as accepted")
    for name in branches.stale_worktrees(repo):
        if rows.get(name) is None or rows[name].status != "running":
            branches.remove_worktree(repo, name)
            done.append(f"removed a stale worktree {name}")
    return done


# -- the pass ------------------------------------------------------------------------------
def _since_last_pass(ws: Workspace, agent: Agent) -> list[Message]:
    """What the agent's conversations (all of them: its memory is shared) said since the last pass."""
    cursor = ws.store.get_meta(f"sleep.{agent.id}.last_message")
    try:
        return ws.store.list_messages(agent.id, after=cursor, limit=MAX_MESSAGES, order="asc",
                                      conversation=ALL_CONVERSATIONS)
    except MemosError:  # the cursor's message is gone: start from the recent past
        return ws.store.list_messages(agent.id, limit=MAX_MESSAGES, order="asc", conversation=ALL_CONVERSATIONS)


def _recent_calls(ws: Workspace, agent: Agent) -> list[Any]:
    since = ws.store.get_meta(f"sleep.{agent.id}.last_pass")
    calls = ws.store.list_tool_calls(agent.id, limit=500)
    if since:
        start = datetime.fromisoformat(since)
        calls = [c for c in calls if c.created_at is None or c.created_at.replace(tzinfo=UTC) > start]
    return calls


def run_pass(ws: Workspace, agents: list[Agent], *, dry_run: bool = False, policy: str | None = None) -> PassReport:
    report = PassReport(dry_run=dry_run)
    policy = policy or str(ws.config.get("evolve.policy"))
    with pass_lock(ws):
        log = evolve_log(ws)
        log.info("pass started: %d agent(s), policy %s%s", len(agents), policy, ", dry run" if dry_run else "")
        for agent in agents:
            outcome = AgentOutcome(agent.name)
            try:
                _agent_pass(ws, agent, policy, dry_run, outcome)
            except MemosError as exc:
                outcome.status, outcome.detail = "error", str(exc)
            log.info("%s: %s%s", agent.name, outcome.status, f" ({outcome.detail})" if outcome.detail else "")
            if outcome.usage and outcome.usage["llm_calls"]:
                log.info("%s: spent %s tokens in %d LLM call(s) (budget %s)%s", agent.name,
                         f"{outcome.usage['tokens']:,}", outcome.usage["llm_calls"],
                         f"{outcome.usage['budget_tokens']:,}",
                         "; the budget is reached" if outcome.usage["tokens"] >= outcome.usage["budget_tokens"] else "")
            report.outcomes.append(outcome)
        log.info("pass finished: exit %d", report.exit_code)
    return report


def _agent_pass(ws: Workspace, agent: Agent, policy: str, dry_run: bool, outcome: AgentOutcome) -> None:
    repo = tool_repo(ws, agent)
    started = datetime.now(UTC)
    messages = _since_last_pass(ws, agent)
    custom = set(repo.tool_names())
    calls = _recent_calls(ws, agent)
    problems = proposals.signals(calls, custom)
    if dry_run:
        leftovers = [e.id for e in ws.store.list_evolutions(agent.id, status="running")]
        outcome.status = "would run" if messages or problems or leftovers else "nothing to do"
        outcome.detail = (f"{len(messages)} new message(s) to consolidate, {len(problems)} recorded tool problem(s)"
                          + (f", {len(leftovers)} interrupted evolution(s) to clean up" if leftovers else "")
                          + ("" if policy != "off" else "; proposals are off"))
        return
    with changing(ws, agent) as repo:  # what recovery removes goes for every replica
        outcome.recovered = recover(ws, agent, repo)
    outcome.recovered += review.settle_canaries(ws, agent)
    budget = BudgetedLLM(LLM(ws.config), int(ws.config.get("evolve.budget.tokens")), ws.store, agent.id)
    try:
        _consolidate_and_propose(ws, agent, repo, policy, outcome, budget, messages, problems, calls, custom)
    except BaseException:
        budget.close("failed")
        raise
    budget.close()
    outcome.usage = budget.usage()
    if messages:
        ws.store.set_meta(f"sleep.{agent.id}.last_message", messages[-1].id)
    ws.store.set_meta(f"sleep.{agent.id}.last_pass", started.isoformat())


def _consolidate_and_propose(ws: Workspace, agent: Agent, repo: ToolRepo, policy: str, outcome: AgentOutcome,
                             budget: BudgetedLLM, messages: list[Message], problems: list[str],
                             calls: list[Any], custom: set[str]) -> None:
    if messages:
        result = consolidate(ws, agent, messages, budget)
        outcome.consolidated, outcome.learnings = result.edits, result.learnings
        if result.stopped:
            outcome.detail = _budget_note(budget, "consolidation stopped early")
    if policy != "off" and (problems or messages):
        if budget.exhausted:
            outcome.detail = _budget_note(budget, "consolidation stopped early; no proposal this time"
                                          if outcome.detail else "no proposal this time")
        elif repo.changes():
            outcome.detail = "the tool repo has uncommitted changes; no proposal this time"
        else:
            attempts = proposals.archived_attempts(ws, agent, repo, proposals.problem_tools(calls, custom))
            _evolve(ws, agent, repo, problems, messages[-40:], policy, outcome, budget, attempts)


def _budget_note(budget: BudgetedLLM, then: str) -> str:
    return f"token budget reached ({budget.tokens:,} of {budget.cap_tokens:,}); {then}"


def _evolve(ws: Workspace, agent: Agent, repo: ToolRepo, problems: list[str], recent: list[Message], policy: str,
            outcome: AgentOutcome, budget: BudgetedLLM, attempts: list[str]) -> None:
    base = repo.head()
    evolution = ws.store.create_evolution(agent.id, "", base, title="(asking the model)")
    outcome.evolution = evolution.id
    try:
        proposal = proposals.ask(ws, agent, repo, problems, recent, budget, attempts)
    except BudgetReached:
        ws.store.update_evolution(evolution.id, status="no_change", title="budget reached", decided_by="sleep",
                                  usage=budget.usage(), reason=_budget_note(budget, "no proposal"))
        outcome.status, outcome.detail = "no_change", _budget_note(budget, "no proposal this time")
        return
    except MemosError:
        ws.store.update_evolution(evolution.id, status="failed", decided_by="sleep", usage=budget.usage())
        raise
    if proposal is None:
        ws.store.update_evolution(evolution.id, status="no_change", title="no change proposed", decided_by="sleep",
                                  usage=budget.usage())
        outcome.status = "no_change"
        return
    branch = proposals.branch_name(proposal.title, evolution.id)
    evolution = ws.store.update_evolution(evolution.id, branch=branch, title=proposal.title,
                                          rationale=proposal.rationale, usage=budget.usage())
    with changing(ws, agent):  # the branch and its commit, published for every replica
        worktree = branches.start_worktree(repo, branch, base or "HEAD", evolution.id)
        try:
            proposals.write(worktree, proposal)
            head = worktree.commit_all(proposal.title, trailers={branches.EVOLUTION_TRAILER: evolution.id})
        finally:
            branches.remove_worktree(repo, evolution.id)
        if head is None:
            branches.delete_branch(repo, branch)
    if head is None:
        ws.store.update_evolution(evolution.id, status="no_change", decided_by="sleep")
        outcome.status = "no_change"
        return
    evolution = ws.store.update_evolution(evolution.id, head_commit=head)
    checks = review.run_checks(ws, agent, repo, base or head, head)
    changes = checks.reports()
    changes["status"] = "pending"
    changes["utility"] = {**score(checks.shadow, checks.new_tools, budget.tokens),
                          "threshold": float(ws.config.get("evolve.utility.threshold"))}
    evolution = ws.store.update_evolution(evolution.id, **changes)
    outcome.detail = evolution.title
    _decide(ws, evolution, checks, policy, outcome)


def _decide(ws: Workspace, evolution: Evolution, checks: review.CheckResult, policy: str,
            outcome: AgentOutcome) -> None:
    if not checks.passed:
        review.reject(ws, evolution, decided_by="sleep", why=f"its checks failed: {checks.tests.summary}")
        outcome.status = "rejected"
        return
    utility = evolution.utility or {}
    above = float(utility.get("score", 0.0)) > float(utility.get("threshold", 0.0))
    if policy == "auto" and checks.clean and above:
        decided = review.accept(ws, evolution, decided_by="sleep",
                                why=f"tests passed, shadow replay showed no regression, utility "
                                    f"{utility['score']:+.2f} above {utility['threshold']:+.2f}")
        outcome.status = decided.status
        return
    flagged = checks.shadow.regressions
    if flagged:
        why = f"kept for review: shadow replay flagged {flagged} recorded call(s) that would behave differently"
    elif policy == "auto" and not above:
        why = (f"kept for review: utility {utility.get('score', 0.0):+.2f} is not above the threshold "
               f"{utility.get('threshold', 0.0):+.2f}")
    else:
        why = "kept for review (policy review)"
    ws.store.update_evolution(evolution.id, reason=why)
    remember(ws, ws.store.get_agent(evolution.agent_id), summary_text(evolution, "proposed", why))
    outcome.status, outcome.detail = "pending", f"{evolution.title}: {why}"
