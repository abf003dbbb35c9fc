"""Prefixed ids (``agent-…``, ``block-…``) so a stray id says what it is."""

from __future__ import annotations

import uuid

PREFIXES = ("agent", "block", "message", "passage", "tool", "run", "step", "toolcall", "evo", "canary", "conv", "source", "file", "group", "identity", "schedule", "archive")


def new_id(prefix: str) -> str:
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}-{uuid.uuid4()}"


def looks_like(prefix: str, value: str) -> bool:
    return value.startswith(f"{prefix}-") and len(value) == len(prefix) + 37
