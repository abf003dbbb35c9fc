"""Health and the models the server can use."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from memos import __version__
from memos.core import letta
from memos.server import shapes
from memos.server.deps import WS

router = APIRouter(prefix="/v1", tags=["meta"])


@router.get("/health/")
def health(ws: WS) -> JSONResponse:
    """Letta's health answer, and what a load balancer or an operator needs: whether this replica
    reaches its database, at which migration, and which replica this is (503 without a database)."""
    from memos.errors import MemosError
    from memos.store.replica import replica_id

    body: dict[str, Any] = {"status": "ok", "version": __version__, "replica": replica_id()}
    try:
        applied = ws.store.schema_version()
        body["database"] = {"backend": getattr(ws.store, "dialect", "duckdb"), "location": getattr(ws.store, "location", None),
                            "migration": applied[-1] if applied else None, "cluster": ws.store.cluster}
    except MemosError as exc:
        body.update(status="unavailable", database={"error": str(exc)})
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


@router.get("/ready/")
def ready(ws: WS) -> JSONResponse:
    """Readiness for a load balancer: 200 once this replica reaches its database, else 503."""
    from memos.errors import MemosError

    try:
        ws.store.schema_version()
    except MemosError as exc:
        return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


def _model(name: str, context_window: int, provider: str) -> dict[str, Any]:
    return {"handle": name, "name": name, "model": name, "display_name": name, "context_window": context_window,
            "max_context_window": context_window, "model_endpoint_type": letta.endpoint_of(name),
            "provider_type": provider, "provider_name": provider, "provider_category": "base"}


@router.get("/models/")
def list_models(ws: WS) -> list[dict[str, Any]]:
    """Models of every usable provider, the configured aliases and the default model."""
    from memos.core.llm import provider_statuses

    window = int(ws.config.get("context_window"))
    names: dict[str, str] = {}
    for status in provider_statuses(ws.config):
        if status.usable:
            for model in status.models:  # named the litellm way, as agents take them
                names.setdefault(model if "/" in model else f"{status.provider}/{model}", status.provider)
    for alias, value in ws.config.section("aliases").items():
        names.setdefault(alias, letta.endpoint_of(str(value)))
    default = str(ws.config.get("default_model"))
    names.setdefault(default, letta.endpoint_of(default))
    return [_model(name, window, provider) for name, provider in names.items()]


@router.get("/models/embeddings")  # the path in Letta's OpenAPI; its client asks the one below
@router.get("/models/embedding")
def list_embedding_models(ws: WS) -> list[dict[str, Any]]:
    model = str(ws.config.get("embedding_model"))
    config = shapes.embedding_config(model)
    return [{**config, "name": model, "display_name": model, "provider_name": "memos", "provider_type": "openai"
             if config["embedding_endpoint_type"] == "openai" else "hugging-face"}]


@router.get("/tags/")
def list_tags(ws: WS, after: str | None = None, limit: int = Query(50, ge=1, le=1000), name: str | None = None,
              query_text: str | None = None) -> list[str]:
    """Every agent tag, in order; ``after`` is a tag; ``name`` / ``query_text`` keep tags containing it."""
    needle = (name or query_text or "").lower()
    tags = sorted({tag for agent in ws.store.list_agents() for tag in agent.tags if needle in tag.lower()})
    if after is not None:
        tags = [tag for tag in tags if tag > after]
    return tags[:limit]
