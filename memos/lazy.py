"""Heavy imports, done once and only on the path that needs them."""

from __future__ import annotations

import gc
import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any


@lru_cache(maxsize=1)
def import_litellm() -> Any:
    """litellm (~4 s to import), offline-safe and quiet.

    Without LITELLM_LOCAL_MODEL_COST_MAP it fetches a cost map from the network;
    without suppress_debug_info it may print a banner to stdout, memos's data channel.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    settle_heap()
    return litellm


@lru_cache(maxsize=1)
def litellm_package_dir() -> Path | None:
    """Where litellm is installed, found without importing it: memos reads the data files it
    ships (tiktoken encodings, the price list) directly."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def settle_heap() -> None:
    """Exempt what a heavy import left behind from garbage collection.

    litellm and the embedding model leave ~400k long-lived objects; every full collection walked
    them all, ~250 ms that landed in every second turn of a long-lived process (a server, a
    pipeline). Frozen objects are never freed, which is right for module state that lives as
    long as the process anyway. No collection first: an import leaves next to no garbage, and a
    full collection would cost the ~200 ms this saves.
    """
    gc.freeze()
