"""`python -m memos.store.onnx_export CACHE_DIR`: make the ONNX copy of the bundled embedding
model in this (child) process, so the process that asked never loads torch (onnx_minilm.export_in_child)."""

from __future__ import annotations

import sys
from pathlib import Path

from memos.store.embeddings import _load_sentence_transformer
from memos.store.onnx_minilm import export

if __name__ == "__main__":
    sys.exit(0 if export(_load_sentence_transformer(), Path(sys.argv[1])) is not None else 1)
