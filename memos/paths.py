"""Where memos keeps things on disk, for every layer (the store needs the model cache too)."""

from __future__ import annotations

import os
from pathlib import Path


def home_root() -> Path:
    """``$MEMOS_HOME``, default ``~/.memos``."""
    raw = os.environ.get("MEMOS_HOME")
    root = Path(raw).expanduser() if raw else Path.home() / ".memos"
    return root.resolve()


def model_cache_dir() -> Path:
    """Models memos derives from the bundled ones (the ONNX copy of the embedding model).

    ``$MEMOS_MODEL_CACHE`` lets several homes share one copy (the test suite does)."""
    raw = os.environ.get("MEMOS_MODEL_CACHE")
    return Path(raw).expanduser().resolve() if raw else home_root() / "models"


def on_read_only_mount(path: Path) -> bool:
    """Whether ``path`` lies on a read-only mount (a snapshot, a backup, a read-only volume)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
