"""What import and export share: the metadata key memos keeps Letta's leftovers under, and
Letta's llm_config / embedding_config for memos's settings."""

from __future__ import annotations

from typing import Any

from memos.agentfile.read import PROVIDERS
from memos.store.base import EMBEDDING_DIM

KEPT = "letta_agent_file"  # the agent metadata key holding what memos keeps only for export
DEFAULT_AGENT_TYPE = "letta_v1_agent"
ENDPOINT_OF = {prefix: endpoint for endpoint, prefix in PROVIDERS.items()}


def llm_config_for(model: str, context_window: int, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Letta's llm_config for a memos (litellm) model name. ``handle`` carries the exact name back."""
    prefix, _, rest = model.partition("/")
    if rest and prefix in ENDPOINT_OF:
        endpoint, name = ENDPOINT_OF[prefix], rest
    else:
        endpoint, name = "openai", model  # an OpenAI-compatible server, or a name litellm knows bare
    return {**(base or {}), "model": name, "model_endpoint_type": endpoint, "context_window": context_window,
            "handle": model}


def embedding_config_for(model: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**(base or {}), "embedding_endpoint_type": "hugging-face", "embedding_model": model,
            "embedding_dim": EMBEDDING_DIM, "handle": model}
