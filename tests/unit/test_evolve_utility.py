"""The utility a proposal is scored by: what it fixes and breaks, its spending, and a slowdown only
when the replayed calls are slow enough for their time to be the tool's and not the sandbox's."""

from __future__ import annotations

import pytest

from memos.evolve.checks import ReplayedCall, ShadowReport
from memos.evolve.utility import score


def call(old_ok: bool, new_ok: bool, old_ms: float, new_ms: float, same: bool = True) -> ReplayedCall:
    return ReplayedCall("tool", {}, "out", "out" if same else "other", old_ok, new_ok, old_ms, new_ms)


def test_parts_and_weights() -> None:
    report = ShadowReport([call(False, True, 10, 10), call(False, True, 10, 10), call(True, False, 10, 10),
                           call(True, True, 10, 10, same=False)])
    scored = score(report, new_tools=1, tokens=50_000)
    assert scored["parts"] == {"errors_fixed": 2.0, "errors_introduced": -2.0, "outputs_changed": -0.5,
                               "new_tools": 0.5, "latency": 0.0, "spend": -0.5}
    assert scored["score"] == pytest.approx(-0.5)


def test_fast_calls_are_not_judged_by_their_time() -> None:
    # 15 ms against 45 ms is the sandbox and a busy machine, not the tool.
    scored = score(ShadowReport([call(False, True, 15, 45), call(True, True, 15, 45)]), new_tools=0, tokens=0)
    assert scored["parts"]["latency"] == 0.0 and scored["slowdown"] is None and scored["score"] == 1.0


def test_a_slow_tool_made_slower_loses_points_beyond_the_noise() -> None:
    scored = score(ShadowReport([call(True, True, 400, 800), call(True, True, 400, 800)]), new_tools=0, tokens=0)
    assert scored["slowdown"] == 1.0 and scored["parts"]["latency"] == -0.75
    capped = score(ShadowReport([call(True, True, 400, 4000)]), new_tools=0, tokens=0)
    assert capped["parts"]["latency"] == -2.0
    within = score(ShadowReport([call(True, True, 400, 480)]), new_tools=0, tokens=0)
    assert within["parts"]["latency"] == 0.0  # 20% slower: inside the noise margin
