"""Evolutions of an agent's tool code: what the sleep pass proposed, the canaries in flight with
the monitor's figures, and the decisions a person takes (memos's own routes: Letta has none)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query

from memos.core.workspace import Workspace
from memos.errors import NotFound
from memos.evolve import canary, review
from memos.server.deps import WS, AgentDep
from memos.store.base import Agent, Evolution, EvolutionStatus

router = APIRouter(prefix="/v1", tags=["evolutions"])
Decision = Literal["accept", "reject", "promote", "rollback"]
DECISIONS = {"accept": review.accept, "reject": review.reject, "promote": review.promote, "rollback": review.rollback}


def _shape(e: Evolution) -> dict[str, Any]:
    return {"id": e.id, "agent_id": e.agent_id, "status": e.status, "title": e.title, "rationale": e.rationale,
            "branch": e.branch, "base_commit": e.base_commit, "head_commit": e.head_commit,
            "test_report": e.test_report, "shadow_report": e.shadow_report, "stages": e.stages,
            "utility": e.utility, "usage": e.usage, "canary": e.canary, "reason": e.reason,
            "decided_by": e.decided_by, "created_at": e.created_at, "updated_at": e.updated_at}


def _owned(ws: Workspace, agent: Agent, evolution_id: str) -> Evolution:
    evolution = ws.store.get_evolution(evolution_id)
    if evolution.agent_id != agent.id:
        raise NotFound(f"agent {agent.name} has no evolution '{evolution_id}'", "list them at .../evolutions")
    return evolution


@router.get("/agents/{agent_id}/evolutions")
def list_evolutions(ws: WS, agent: AgentDep, status: EvolutionStatus | None = None,
                    limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """Newest first."""
    return [_shape(e) for e in ws.store.list_evolutions(agent.id, status)[:limit]]


@router.get("/agents/{agent_id}/evolutions/canaries")
def canaries(ws: WS, agent: AgentDep) -> list[dict[str, Any]]:
    """Canaries in flight: calls, errors and p95 per version, the margins, and the verdict."""
    return canary.status(ws, agent.id)


@router.get("/agents/{agent_id}/evolutions/{evolution_id}")
def get_evolution(ws: WS, agent: AgentDep, evolution_id: str) -> dict[str, Any]:
    evolution = _owned(ws, agent, evolution_id)
    shaped = _shape(evolution)
    if evolution.status == "canary":
        shaped["health"] = canary.health(ws, evolution).to_dict()
    return shaped


@router.post("/agents/{agent_id}/evolutions/{evolution_id}/{decision}")
def decide(ws: WS, agent: AgentDep, evolution_id: str, decision: Decision) -> dict[str, Any]:
    """accept (a canary, or merged), reject, promote (a canary to every call), rollback."""
    return _shape(DECISIONS[decision](ws, _owned(ws, agent, evolution_id)))
