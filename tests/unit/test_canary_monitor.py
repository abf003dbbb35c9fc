"""The canary's health monitor and router arithmetic: margins that ignore chance and catch a
real regression, latency, shadow comparisons, promotion, and a split that is the same for the
same call in every process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memos.evolve.canary import pick
from memos.evolve.monitor import MonitorSettings, assess, p95, wilson
from memos.store.base import CanaryCall, CanaryOutcome, CanaryVersion

START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SOON = START + timedelta(minutes=5)


def calls(version: CanaryVersion, ok: int, failed: int = 0, ms: float = 10.0,
          failure: CanaryOutcome = "error") -> list[CanaryCall]:
    outcomes: list[CanaryOutcome] = ["ok"] * ok + [failure] * failed
    return [CanaryCall(f"{version}-{i}", "evo-1", "agent-1", "tool", f"call-{version}-{i}", version, outcome, ms, 3)
            for i, outcome in enumerate(outcomes)]


def shadowed(same: int, changed: int, new_failed: int = 0) -> list[CanaryCall]:
    rows = []
    for i in range(same + changed + new_failed):
        outcome: CanaryOutcome = "error" if i >= same + changed else "ok"
        rows.append(CanaryCall(f"s-{i}", "evo-1", "agent-1", "tool", f"call-{i}", "old", "ok", 10.0, 3,
                               shadow_outcome=outcome, shadow_ms=11.0, differs=same <= i < same + changed))
    return rows


def test_wilson_interval_is_where_the_score_test_stops_rejecting() -> None:
    # The bounds are the roots of (p_hat - p)^2 = z^2 p (1 - p) / n, solved here as a quadratic.
    z, n, p_hat = 1.6448536, 20, 0.25
    a, b, c = 1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat
    roots = sorted(((-b - (b * b - 4 * a * c) ** 0.5) / (2 * a), (-b + (b * b - 4 * a * c) ** 0.5) / (2 * a)))
    assert wilson(5, 20, z) == pytest.approx(tuple(roots), abs=1e-12)
    assert wilson(0, 0, 1.64) == (0.0, 1.0)  # nothing observed: anything is possible
    assert wilson(0, 80, 1.64)[0] == 0.0 and wilson(0, 80, 1.64)[1] < 0.04


def test_one_error_in_three_calls_does_not_trigger() -> None:
    health = assess("split", calls("old", 12) + calls("new", 2, 1), MonitorSettings(), START, SOON)
    assert health.verdict == "continue" and health.new.errors == 1
    assert health.new.error_low < health.old.error_high  # the intervals overlap


def test_five_errors_in_twenty_against_none_in_eighty_rolls_back() -> None:
    health = assess("split", calls("old", 80) + calls("new", 15, 5), MonitorSettings(), START, SOON)
    assert health.verdict == "rollback"
    assert health.reason.startswith("error rate regressed: new 5/20 (at least 12.7%) against old 0/80 (at most")


def test_errors_without_old_calls_to_compare_do_not_trigger() -> None:
    assert assess("split", calls("new", 0, 3), MonitorSettings(), START, SOON).verdict == "continue"


def test_timeouts_count_as_errors() -> None:
    health = assess("split", calls("old", 40) + calls("new", 0, 8, failure="timeout"), MonitorSettings(), START, SOON)
    assert health.verdict == "rollback" and health.new.timeouts == 8 and health.new.errors == 8


def test_an_old_version_that_fails_more_is_no_regression() -> None:
    health = assess("split", calls("old", 0, 20) + calls("new", 20), MonitorSettings(calls=20), START, SOON)
    assert health.verdict == "promote"


def test_p95_beyond_the_factor_rolls_back_once_both_have_enough_calls() -> None:
    slow = calls("old", 10, ms=100.0) + calls("new", 9, ms=500.0)
    assert assess("split", slow, MonitorSettings(), START, SOON).verdict == "continue"  # 9 calls: too few
    slow += calls("new", 1, ms=500.0)
    health = assess("split", slow, MonitorSettings(), START, SOON)
    assert health.verdict == "rollback" and "p95 call time regressed: new 500 ms against old 100 ms" in health.reason
    assert assess("split", slow, MonitorSettings(latency_factor=6.0), START, SOON).verdict == "continue"


def test_a_fast_tool_is_not_rolled_back_for_milliseconds() -> None:
    # 14 ms against 45 ms: three times slower, and all of it the sandbox and a busy machine.
    noisy = calls("old", 20, ms=14.0) + calls("new", 20, ms=45.0)
    assert assess("split", noisy, MonitorSettings(calls=50), START, SOON).verdict == "continue"


def test_promotion_after_enough_calls_or_hours() -> None:
    healthy = calls("old", 30) + calls("new", 9)
    settings = MonitorSettings(calls=10, hours=24)
    health = assess("split", healthy, settings, START, SOON)
    assert health.verdict == "continue" and health.calls_to_promote == 1
    assert assess("split", healthy + calls("new", 1), settings, START, SOON).verdict == "promote"
    late = assess("split", healthy, settings, START, START + timedelta(hours=25))
    assert late.verdict == "promote" and late.reason.startswith("25.0 h without a regression")


def test_shadow_mode_judges_the_new_code_by_its_shadow_results() -> None:
    few = assess("shadow", shadowed(same=10, changed=1), MonitorSettings(), START, SOON)
    assert few.verdict == "continue" and few.shadowed == 11 and few.changed == 1
    many = assess("shadow", shadowed(same=10, changed=6), MonitorSettings(), START, SOON)
    assert many.verdict == "rollback" and many.reason.startswith("outputs changed on 6 of 16 shadowed calls")
    broke = assess("shadow", shadowed(same=20, changed=0, new_failed=6), MonitorSettings(), START, SOON)
    assert broke.verdict == "rollback" and broke.new.errors == 6 and broke.old.errors == 0
    pending = shadowed(same=3, changed=0) + [CanaryCall("x", "evo-1", "agent-1", "tool", "c", "old", "ok", 1.0, 1)]
    assert assess("shadow", pending, MonitorSettings(), START, SOON).shadowed == 3  # not finished: not counted


def test_p95_is_nearest_rank() -> None:
    assert p95([]) is None
    assert p95([float(v) for v in range(1, 101)]) == 95.0
    assert p95([3.0]) == 3.0


@pytest.mark.parametrize("share", [0.2, 0.5])
def test_the_split_is_deterministic_per_call_and_near_its_share(share: float) -> None:
    routed = [pick("evo-1", f"call-{i}", share) for i in range(4000)]
    assert routed == [pick("evo-1", f"call-{i}", share) for i in range(4000)]
    assert abs(routed.count("new") / 4000 - share) < 0.03
    assert [pick("evo-2", f"call-{i}", share) for i in range(50)] != routed[:50]  # another canary, another split
