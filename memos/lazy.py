"""Heavy imports, done once and only on the path that needs them."""

from __future__ import annotations

import os
from functools import lru_cache
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
    return litellm
