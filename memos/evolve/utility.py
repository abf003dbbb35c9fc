"""One score for a proposal, as the Darwin Gödel Machine and SICA score their variants: what
it fixes, what it breaks, what it changes without being asked, how much slower it is, and what
the pass spent to find it. Policy `auto` starts a canary only above `evolve.utility.threshold`;
the score and its parts are stored on the evolution and shown by `memos evolve show`."""

from __future__ import annotations

from typing import Any

from memos.evolve.checks import ShadowReport

FIXED, INTRODUCED, CHANGED = 1.0, -2.0, -0.5  # per replayed call
NEW_TOOL = 0.5  # a new tool whose tests pass: nothing recorded to replay, still worth something
LATENCY_NOISE = 0.25  # replay times vary by this much between runs of the same code: not counted
# Below this mean time per replayed call, a call's time is the sandbox's own (a worker, a jail)
# and the machine's load, not the tool's: a busy machine made a 15 ms tool look twice as slow.
LATENCY_FLOOR_MS = 200.0
LATENCY_WEIGHT, LATENCY_CAP = -1.0, 2.0  # per unit of slowdown beyond the noise, at most -2
TOKENS_PER_POINT = 100_000  # a pass spending 100k tokens costs one point


def score(shadow: ShadowReport, new_tools: int, tokens: int) -> dict[str, Any]:
    old_ms = sum(c.old_ms for c in shadow.calls)
    new_ms = sum(c.new_ms for c in shadow.calls)
    comparable = bool(shadow.calls) and old_ms / len(shadow.calls) >= LATENCY_FLOOR_MS
    slowdown = (new_ms / old_ms - 1.0) if comparable else 0.0
    parts = {
        "errors_fixed": FIXED * shadow.count("error fixed"),
        "errors_introduced": INTRODUCED * shadow.count("error introduced"),
        "outputs_changed": CHANGED * shadow.count("output changed"),
        "new_tools": NEW_TOOL * new_tools,
        "latency": LATENCY_WEIGHT * min(LATENCY_CAP, max(0.0, slowdown - LATENCY_NOISE)),
        "spend": -tokens / TOKENS_PER_POINT,
    }
    rounded = {key: round(value, 3) for key, value in parts.items()}
    return {"score": round(sum(parts.values()), 3), "parts": rounded,
            "slowdown": round(slowdown, 3) if comparable else None, "tokens": tokens}
