"""Warming a long-lived process: load now what its first request would otherwise wait for."""

from __future__ import annotations

import threading

from memos.core.workspace import Workspace
from memos.errors import MemosError


def warm_up(ws: Workspace) -> None:
    """Load the local embedding models the agents use and the LLM clients their models need."""
    from memos.core.llm import resolve, warm_client
    from memos.store.embeddings import LOCAL_ALIASES, get_embedder

    try:
        agents = ws.store.list_agents()
        # Only what an agent uses: a server with no agent (or only remote embeddings) loads no model.
        models = {a.embedding_model for a in agents}
        for model in sorted(models & set(LOCAL_ALIASES)):  # a remote model costs a call: never warmed
            get_embedder(model).embed(["warm"])
        for llm in sorted({a.model for a in agents} | {ws.config.get("default_model")}):
            try:
                warm_client(resolve(ws.config, llm))
            except MemosError:
                continue  # no key for it: its first call says so
    except MemosError:
        pass  # a model that cannot load says so on first use, with its own error


def warm_up_in_background(ws: Workspace) -> threading.Thread:
    thread = threading.Thread(target=warm_up, args=(ws,), name="memos-warm-up", daemon=True)
    thread.start()
    return thread
