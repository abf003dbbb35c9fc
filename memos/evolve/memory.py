"""What is remembered of evolutions: every decision in the agent's archival memory (tag
`evolution`), so it can tell later what it changed about itself, what happened to it, and why;
and every pass and canary transition in `$MEMOS_HOME/logs/evolve.log`, for the person."""

from __future__ import annotations

import logging

from memos.core.workspace import Workspace
from memos.evolve.checks import describe_shadow
from memos.store.base import Agent, Evolution

EVOLUTION_TAG = "evolution"


def evolve_log(ws: Workspace) -> logging.Logger:
    """The evolution log, written by sleep passes and by any process whose monitor decides."""
    logs = ws.home.logs_dir
    logs.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("memos.evolve")
    logger.setLevel(logging.INFO)
    target = str(logs / "evolve.log")
    if not any(getattr(h, "baseFilename", None) == target for h in logger.handlers):
        handler = logging.FileHandler(target, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
    return logger


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
