"""memos's things in Letta's terms: the agent type, the built-in tools' types, the provider
(endpoint) of a model, llm_config and embedding_config. The API's shapes and agent files use these
alike, so an agent reads the same over the API and in an exported .af file."""

from __future__ import annotations

import uuid
from typing import Any

from memos.store.base import EMBEDDING_DIM
from memos.store.remote_embedders import known_width

AGENT_TYPE = "memgpt_v2_agent"  # memory tools by label, like Letta's v2 agents

# Letta's model_endpoint_type -> litellm's provider prefix; and back (with litellm's aliases).
PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google_ai": "gemini", "google_vertex": "vertex_ai",
             "azure": "azure", "groq": "groq", "ollama": "ollama", "mistral": "mistral", "together": "together_ai",
             "bedrock": "bedrock", "deepseek": "deepseek", "xai": "xai", "openrouter": "openrouter",
             "fireworks": "fireworks_ai", "vllm": "hosted_vllm", "lmstudio": "lm_studio",
             "hugging-face": "huggingface"}
ENDPOINT_OF = {**{prefix: endpoint for endpoint, prefix in PROVIDERS.items()}, "ollama_chat": "ollama"}

# Letta's tool_type of each built-in tool (as Letta's own agent files give them).
TOOL_TYPES = {"send_message": "letta_core", "conversation_search": "letta_core",
              "archival_memory_insert": "letta_core", "archival_memory_search": "letta_core",
              "core_memory_append": "letta_memory_core", "core_memory_replace": "letta_memory_core",
              "memory_insert": "letta_sleeptime_core", "memory_replace": "letta_sleeptime_core",
              "memory_rethink": "letta_sleeptime_core", "memory_finish_edits": "letta_sleeptime_core",
              "memory_apply_patch": "letta_memory_core", "open_files": "letta_files_core",
              "grep_files": "letta_files_core", "semantic_search_files": "letta_files_core",
              "send_message_to_agent_and_wait_for_reply": "letta_multi_agent_core",
              "send_message_to_agents_matching_tags": "letta_multi_agent_core"}


def message_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored message's tool calls as Letta's own Message holds them (its agent files, its
    internal message form): OpenAI's function-call shape."""
    return [{"id": c.get("id") or "", "type": "function",
             "function": {"name": c.get("name"), "arguments": c.get("arguments") or ""}} for c in calls]


def builtin_tool_id(name: str) -> str:
    """Built-ins have no rows; a stable id per name keeps clients' tool ids valid across restarts."""
    return f"tool-{uuid.uuid5(uuid.NAMESPACE_URL, 'memos:builtin:' + name)}"


def tool_type(name: str) -> str:
    return TOOL_TYPES.get(name, "letta_core")


def endpoint_of(model: str) -> str:
    """Letta's endpoint type for a litellm model name ("anthropic/claude-..." -> "anthropic"); a name
    without a provider prefix memos knows is an OpenAI-compatible one."""
    prefix, _, rest = model.partition("/")
    return ENDPOINT_OF.get(prefix, "openai") if rest else "openai"


def llm_config_for(model: str, context_window: int, base: dict[str, Any] | None = None,
                   max_tokens: int | None = None) -> dict[str, Any]:
    """Letta's llm_config for a memos (litellm) model name, the name as Letta splits it (provider
    apart); ``handle`` carries the exact name back; ``max_tokens`` the cap on one reply."""
    prefix, _, rest = model.partition("/")
    # Split only a prefix an import turns back into the same name (PROVIDERS); other names stay whole.
    name = rest if rest and prefix in PROVIDERS.values() else model
    return {**(base or {}), "model": name, "model_endpoint_type": endpoint_of(model),
            "context_window": context_window, "handle": model, "max_tokens": max_tokens}


def embedding_config_for(model: str, base: dict[str, Any] | None = None) -> dict[str, Any]:
    endpoint = "hugging-face" if "minilm" in model.lower() else "openai"
    return {**(base or {}), "embedding_endpoint_type": endpoint, "embedding_model": model,
            "embedding_dim": known_width(model) or EMBEDDING_DIM, "handle": model}


def embedding_handle(config: dict[str, Any] | None) -> str | None:
    """The model a Letta embedding_config names, as memos names models: its handle
    ("openai/text-embedding-3-small"), else endpoint type and model; None when it names none.
    Letta's MiniLM (hugging-face endpoint) is memos's bundled model."""
    if not config:
        return None
    handle, model = config.get("handle"), config.get("embedding_model")
    named = handle if isinstance(handle, str) and handle else model if isinstance(model, str) and model else None
    if named is None:
        return None
    if "minilm" in named.lower() and "l6" in named.lower():
        return "local/all-MiniLM-L6-v2"
    if "/" in named:
        return named
    endpoint = str(config.get("embedding_endpoint_type") or "openai")
    return f"{'ollama' if endpoint == 'ollama' else 'openai'}/{named}"
