"""Canaries: an accepted change to existing tools serves part of the live calls before all of them.

When an evolution is accepted (by a person or by policy `auto`) and it changes tools that
already exist, it does not go into the tools' main branch yet. It becomes a *canary*: each live
call of a changed tool is routed to the new code with probability `evolve.canary.share`
(`split` mode), decided by a hash of the evolution and the call's id so that a replay routes the
same way; or, in `shadow` mode, the old code answers every call and the new code runs beside it
for comparison only. Every such call is recorded (`canary_calls`) with the version that
answered, its outcome, time and output size, in the same transaction as the step.

The health monitor (`monitor.py`) reads those records each time a canaried tool is called,
in every process serving the agent, and in the sleep pass: on a regression the canary is rolled
back (the branch is kept, main never had it, so the next call runs the old code), after enough
healthy calls or hours it is promoted (merged into main). Decisions take a lock and re-read the
row, so two processes never both decide; all state lives in the store, so a canary outlives
the process that started it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from memos.core.workspace import Workspace
from memos.errors import DatabaseBusy, InvalidInput
from memos.evolve import branches
from memos.evolve.memory import evolve_log, remember, summary_text
from memos.evolve.merge import merge_evolution
from memos.evolve.monitor import Health, MonitorSettings, assess
from memos.store.base import Agent, CanaryVersion, Evolution
from memos.tools.repo import ToolRepo
from memos.tools.shared_code import changing, tool_repo

DECISION_LOCK_SECONDS = 60.0


def settings(ws: Workspace) -> MonitorSettings:
    get = ws.config.get
    return MonitorSettings(calls=int(get("evolve.canary.calls")), hours=float(get("evolve.canary.hours")),
                           confidence=float(get("evolve.canary.confidence")),
                           latency_factor=float(get("evolve.canary.latency_factor")),
                           max_changed=float(get("evolve.canary.max_changed")))


def canaried_tools(repo: ToolRepo, base: str, head: str) -> list[str]:
    """Tools the change rewrites that exist on both sides (a new tool has no old version to compare)."""
    from memos.evolve.checks import changed_tools

    old, new = set(repo.files_at(base)), set(repo.files_at(head))
    return [t for t in changed_tools(branches.changed_paths(repo, base, head))
            if f"{t}.py" in old and f"{t}.py" in new]


def start(ws: Workspace, evolution: Evolution, *, decided_by: str, why: str) -> Evolution | None:
    """Turn an accepted evolution into a canary; None when it should be merged at once instead
    (canaries are off, or the change touches no existing tool)."""
    mode = str(ws.config.get("evolve.canary.mode"))
    if mode == "off" or not evolution.base_commit or not evolution.head_commit:
        return None
    agent = ws.store.get_agent(evolution.agent_id)
    repo = tool_repo(ws, agent)
    tools = canaried_tools(repo, evolution.base_commit, evolution.head_commit)
    if not tools:
        return None
    main = repo.head()
    if main and branches.merged_tree(repo, main, evolution.head_commit) is None:
        raise InvalidInput(f"the tools changed since evolution {evolution.id} was proposed, and the change "
                           "no longer merges cleanly", "reject it; the next pass can propose it again")
    share = float(ws.config.get("evolve.canary.share"))
    watch = settings(ws)
    canary = {"mode": mode, "share": share if mode == "split" else 0.0, "tools": tools,
              "started_at": datetime.now(UTC).isoformat(), "calls": watch.calls, "hours": watch.hours}
    started = ws.store.update_evolution(evolution.id, status="canary", decided_by=decided_by, canary=canary,
                                        reason=why)
    serving = f"answers {share:.0%} of the calls" if mode == "split" else "runs beside the old code (shadow)"
    evolve_log(ws).info("%s: canary %s started by %s (%s; %s): %s", agent.name, evolution.id, decided_by,
                        f"split {share:.0%}" if mode == "split" else "shadow", ", ".join(tools), evolution.title)
    remember(ws, agent, summary_text(started, "started as a canary", f"{why}; the new code {serving} of "
                                     f"{', '.join(tools)} while the monitor watches"))
    return started


def health(ws: Workspace, evolution: Evolution, now: datetime | None = None) -> Health:
    canary = evolution.canary or {}
    return assess(str(canary.get("mode", "split")), ws.store.list_canary_calls(evolution.id), settings(ws),
                  datetime.fromisoformat(str(canary.get("started_at"))), now or datetime.now(UTC))


@contextmanager
def _decision_lock(ws: Workspace) -> Iterator[None]:
    """One decision at a time across processes and machines (the row is re-read under it)."""
    with ExitStack() as held:
        try:
            held.enter_context(ws.store.cluster_lock("evolve-decide", DECISION_LOCK_SECONDS))
        except DatabaseBusy:
            raise InvalidInput("another process has been deciding an evolution for a minute",
                               "try again; see `memos evolve status`") from None
        yield


def _ended(evolution: Evolution, figures: Health | None) -> dict[str, Any]:
    canary = dict(evolution.canary or {})
    canary["ended_at"] = datetime.now(UTC).isoformat()
    if figures is not None:
        canary["final"] = figures.to_dict()
    return canary


def promote(ws: Workspace, evolution: Evolution, *, decided_by: str, why: str,
            figures: Health | None = None) -> Evolution:
    """Merge a canary into main: from now on every call runs the new code."""
    with _decision_lock(ws):
        current = ws.store.get_evolution(evolution.id)
        if current.status != "canary":
            raise InvalidInput(f"evolution {current.id} is {current.status}, not a canary", "see `memos evolve status`")
        agent = ws.store.get_agent(current.agent_id)
        with changing(ws, agent) as repo:
            merged = merge_evolution(repo, current)
        ws.store.set_meta(f"evolution.{current.id}.merged", merged)
        promoted = ws.store.update_evolution(current.id, status="accepted", decided_by=decided_by,
                                             canary=_ended(current, figures), reason=why)
        evolve_log(ws).info("%s: canary %s promoted by %s: %s", agent.name, current.id, decided_by, why)
    remember(ws, agent, summary_text(promoted, "promoted from canary to every call", why))
    return promoted


def roll_back(ws: Workspace, evolution: Evolution, *, decided_by: str, why: str,
              figures: Health | None = None) -> Evolution:
    """End a canary: main never had the change, so the next call runs the old code. The branch
    stays, with the reason, in the archive of attempts."""
    with _decision_lock(ws):
        current = ws.store.get_evolution(evolution.id)
        if current.status != "canary":
            raise InvalidInput(f"evolution {current.id} is {current.status}, not a canary", "see `memos evolve status`")
        agent = ws.store.get_agent(current.agent_id)
        rolled = ws.store.update_evolution(current.id, status="rolled_back", decided_by=decided_by,
                                           canary=_ended(current, figures), reason=why)
        evolve_log(ws).info("%s: canary %s rolled back by %s: %s", agent.name, current.id, decided_by, why)
    remember(ws, agent, summary_text(rolled, "rolled back from canary", why))
    return rolled


def settle(ws: Workspace, evolution: Evolution, *, decided_by: str = "monitor") -> tuple[Evolution, Health]:
    """Act on the monitor's verdict: roll back, promote, or leave the canary running."""
    figures = health(ws, evolution)
    try:
        if figures.verdict == "rollback":
            return roll_back(ws, evolution, decided_by=decided_by, why=figures.reason, figures=figures), figures
        if figures.verdict == "promote":
            return promote(ws, evolution, decided_by=decided_by, why=figures.reason, figures=figures), figures
    except InvalidInput:
        # Another process decided first (the row is no longer a canary), or main moved so that
        # the change no longer merges: the canary stays as it is for a person to see.
        return ws.store.get_evolution(evolution.id), figures
    return evolution, figures


def pick(evolution_id: str, call_id: str, share: float) -> CanaryVersion:
    """The version that answers a call: the same for the same call, whichever process routes it."""
    digest = hashlib.sha256(f"{evolution_id}:{call_id}".encode()).digest()
    return "new" if int.from_bytes(digest[:8], "big") / 2**64 < share else "old"


@dataclass(frozen=True)
class Route:
    evolution: Evolution
    version: CanaryVersion
    mode: str
    new_files: dict[str, str]  # the code main would have with the change merged

    @property
    def commit(self) -> str | None:
        return self.evolution.head_commit if self.version == "new" else self.evolution.base_commit


MONITOR_INTERVAL = 1.0  # seconds between the monitor's looks in one process


class Router:
    """Routes an agent's custom tool calls during a canary (one per AgentTools).

    The monitor looks (reads the canaries and their recorded calls, and acts on its verdict) at
    most once every `MONITOR_INTERVAL` seconds per process; between looks a call is routed from
    what the last look saw, for a few microseconds instead of milliseconds of store reads. So a
    decision taken in another process reaches this one within a second, and one taken here
    applies from the next call.
    """

    def __init__(self, ws: Workspace, agent: Agent, repo: ToolRepo) -> None:
        self.ws, self.agent, self.repo = ws, agent, repo
        self._files: dict[tuple[str, str | None], dict[str, str] | None] = {}
        self._lock = threading.Lock()
        self._looked_at: float | None = None
        self._canaries: list[Evolution] = []

    def _look(self) -> tuple[list[Evolution], bool]:
        """The canaries in flight after the monitor's verdicts, and whether one was promoted."""
        now = time.monotonic()
        if self._looked_at is not None and now - self._looked_at < MONITOR_INTERVAL:
            return self._canaries, False
        promoted, running = False, []
        for evolution in reversed(self.ws.store.list_evolutions(self.agent.id, status="canary")):  # oldest first
            settled, _figures = settle(self.ws, evolution)
            promoted = promoted or settled.status == "accepted"
            if settled.status == "canary":
                running.append(settled)
        self._looked_at, self._canaries = time.monotonic(), running
        return running, promoted

    def forget(self) -> None:
        """Look again at the next call (after a decision taken by hand in this process)."""
        self._looked_at = None

    def route(self, tool: str, call_id: str | None, main: str | None) -> tuple[Route | None, bool]:
        """(the route of this call, whether main changed under the caller: reload the tools).
        ``main`` is the commit the caller's code came from (None: uncommitted edits, read HEAD)."""
        canaries, promoted = self._look()
        evolution = next((e for e in canaries if tool in (e.canary or {}).get("tools", [])), None)
        if evolution is None or promoted:
            return None, promoted
        files = self._merged_files(evolution, main or self.repo.head())
        if files is None:  # main moved and the change no longer merges: the old code answers
            return None, False
        canary = evolution.canary or {}
        mode = str(canary.get("mode", "split"))
        version: CanaryVersion = "old" if mode == "shadow" else pick(
            evolution.id, call_id or os.urandom(8).hex(), float(canary.get("share", 0.0)))
        return Route(evolution, version, mode, files), False

    def _merged_files(self, evolution: Evolution, main: str | None) -> dict[str, str] | None:
        key = (evolution.id, main)
        with self._lock:
            if key not in self._files:
                assert evolution.head_commit
                tree = branches.merged_tree(self.repo, main, evolution.head_commit) if main else None
                self._files[key] = None if tree is None else self.repo.files_of_tree(tree)
            return self._files[key]


def status(ws: Workspace, agent_id: str | None = None) -> list[dict[str, Any]]:
    """Every canary in flight, with its figures and what the monitor would do next (nothing is
    acted on here: reading the status changes nothing). The CLI, the TUI and the API show this."""
    rows = []
    now = datetime.now(UTC)
    for evolution in ws.store.list_evolutions(agent_id, status="canary"):
        canary = evolution.canary or {}
        figures = health(ws, evolution, now)
        rows.append({"id": evolution.id, "agent": ws.store.get_agent(evolution.agent_id).name,
                     "title": evolution.title, "mode": canary.get("mode"), "share": canary.get("share"),
                     "tools": canary.get("tools", []), "started_at": canary.get("started_at"),
                     "calls_target": canary.get("calls"), "hours": canary.get("hours"), **figures.to_dict()})
    return rows


def status_lines(r: dict[str, Any], width: int = 20) -> list[str]:
    """A canary's versions as bars and figures, then the verdict: the same lines in the CLI and the TUI."""
    most = max(r["old"]["calls"], r["new"]["calls"], 1)
    lines = []
    for name in ("old", "new"):
        v = r[name]
        bar = "█" * round(width * v["calls"] / most)
        rate = "-" if not v["calls"] else f"{v['errors'] / v['calls']:.0%}"
        p95 = "-" if v["p95_ms"] is None else f"{v['p95_ms']:.0f} ms"
        lines.append(f"{name}  {bar:<{width}} {v['calls']:>4} calls  errors {v['errors']} ({rate}; "
                     f"{v['error_low']:.0%}-{v['error_high']:.0%})  p95 {p95}")
    if r["mode"] == "shadow":
        lines.append(f"shadowed {r['shadowed']}, outputs changed {r['changed']} (at least {r['changed_low']:.0%})")
    lines.append(f"next: {r['verdict']}: {r['reason']}")
    return lines
