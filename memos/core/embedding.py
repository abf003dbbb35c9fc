"""Embedding models other than the bundled one: any OpenAI-compatible /embeddings endpoint over
httpx (OpenAI, Ollama, LM Studio, vLLM, llama.cpp), and the rest through litellm.

An agent names its model the way it names its LLM (``openai/text-embedding-3-small``,
``ollama/nomic-embed-text``, ``openai/<model>`` with ``OPENAI_BASE_URL`` for a local server,
``cohere/embed-english-v3.0`` through litellm); base URLs and keys resolve exactly as for chat
(llm.resolve). Requests go in batches, and a 429 or 5xx (or a dropped connection) is tried again
with the chat client's backoff; a model that cannot be reached is one clear line, and since the
caller embeds before it writes, nothing is half-written. The vectors' width is whatever the model
gives: the store keeps each agent's passages at one width (sql/passages.check_width).

The store asks for embedders by name (store/embeddings.get_embedder); a workspace registers
``remote_embedder`` with its config when it opens that config (core.workspace).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from memos.core.completion import Transient
from memos.core.config import Config
from memos.core.llm import MAX_ATTEMPTS, retry_delay
from memos.errors import ProviderError, first_line
from memos.store import embeddings
from memos.store.remote_embedders import known_width, remember_width

if TYPE_CHECKING:
    import numpy as np

BATCH = 256  # texts per request: OpenAI takes up to 2,048, local servers prefer fewer
REQUEST_TIMEOUT = 120.0


class HttpEmbedder:
    """An OpenAI-compatible ``POST {base}/embeddings``."""

    def __init__(self, name: str, wire_model: str, base_url: str, api_key: str | None) -> None:
        self.name = name
        self.dim = known_width(name)
        self._wire_model = wire_model
        self._url = base_url.rstrip("/") + "/embeddings"
        self._api_key = api_key

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [self._with_retries(list(texts[start:start + BATCH])) for start in range(0, len(texts), BATCH)]
        matrix = embeddings.unit_rows(np.concatenate(parts))
        self.dim = remember_width(self.name, matrix.shape[1])
        return matrix

    def _with_retries(self, batch: list[str]) -> np.ndarray:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return self._request(batch)
            except Transient as exc:
                if attempt == MAX_ATTEMPTS:
                    raise ProviderError(f"embedding with {self.name} kept failing after {MAX_ATTEMPTS} tries: "
                                        f"{exc.detail}", "try again later; nothing was stored") from None
                time.sleep(retry_delay(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    def _request(self, batch: list[str]) -> np.ndarray:
        import httpx

        from memos.core import llm_http

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        try:
            response = llm_http.client().post(self._url, json={"model": self._wire_model, "input": batch},
                                              headers=headers, timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=5.0))
        except httpx.ConnectError as exc:
            raise ProviderError(f"cannot reach the embedding model {self.name} at {self._url}: {first_line(exc)}",
                                "start the server, or check OPENAI_BASE_URL / OLLAMA_HOST / providers.*.base_url"
                                ) from None
        except httpx.TransportError as exc:  # reset or timed out: worth another try
            raise Transient(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            refusal = llm_http.refusal(self.name, response)
            if isinstance(refusal, Transient):
                raise refusal
            raise ProviderError(f"embedding with {self.name} failed: {first_line(refusal)}",
                                "check the model name, the server and its API key; nothing was stored") from None
        try:
            data = response.json()["data"]
        except (KeyError, TypeError, ValueError):
            data = None
        return embeddings.vectors_in(self.name, data, len(batch))


def remote_embedder(config: Config, name: str) -> embeddings.Embedder:
    """The embedder for a model that is not the bundled one."""
    from memos.core.llm import resolve

    route = resolve(config, name)
    if route.base_url is not None:
        return HttpEmbedder(route.model, route.wire_model, route.base_url, route.api_key)
    return embeddings.LiteLLMEmbedder(route.model, route.kwargs)
