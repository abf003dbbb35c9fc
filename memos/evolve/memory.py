"""What the agent remembers of its own evolutions: every decision, in archival memory (tag
`evolution`), so it can tell later what it changed about itself, what happened to it, and why."""

from __future__ import annotations

from memos.core.workspace import Workspace
from memos.evolve.checks import describe_shadow
from memos.store.base import Agent, Evolution

EVOLUTION_TAG = "evolution"


def remember(ws: Workspace, agent: Agent, text: str) -> None:
    from memos.core import archival
    from memos.core.ingest import Record

    archival.insert(ws.store, agent, [Record(text, [EVOLUTION_TAG])])


def summary_text(evolution: Evolution, decision: str, why: str) -> str:
    shadow = evolution.shadow_report or {}
    tests = evolution.test_report or {}
    score = (evolution.utility or {}).get("score")
    utility = "" if score is None else f" Utility {score:+.2f}."
    return (f"Tool evolution {decision}: {evolution.title}. Why it was proposed: {evolution.rationale} "
            f"Checks: tests {'passed' if tests.get('passed') else 'failed'} ({tests.get('summary', 'not run')}); "
            f"{describe_shadow(shadow)}.{utility} Decision: {why} (branch {evolution.branch}, evolution "
            f"{evolution.id}).")
