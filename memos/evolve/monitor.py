"""The health monitor of a canary: is the new version of a tool doing worse than the old?

Pure arithmetic over the recorded canary calls (no I/O), so the CLI's status, the sleep pass,
the router and the bench all judge alike. Three signals, each with a margin so that chance
alone does not roll a change back:

- error rate (errors and timeouts): the new version regresses when the lower bound of its
  Wilson interval lies above the upper bound of the old version's, both at the configured
  one-sided confidence. 1 error in 3 calls against 0 in 10 does not trigger (the intervals
  overlap); 5 in 20 against 0 in 80 does.
- p95 call time: beyond `latency_factor` times the old version's and `LATENCY_MARGIN_MS`
  more, once both have `MIN_LATENCY_CALLS` calls (a p95 of three calls is one call).
- shadow mode only: outputs that changed on the same arguments, when the lower Wilson bound
  of their share is above `max_changed`.

Without a regression the canary is promoted after `calls` calls on the new version, or
after `hours` since it started.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from statistics import NormalDist
from typing import Any, Literal

from memos.store.base import CanaryCall

MIN_LATENCY_CALLS = 10
# A p95 must also be this much slower in absolute terms: a fast tool's time is mostly the sandbox's
# and the machine's load (14 ms against 30 ms on a busy machine is noise, not a regression).
LATENCY_MARGIN_MS = 100.0
Verdict = Literal["rollback", "promote", "continue"]


@dataclass(frozen=True)
class MonitorSettings:
    calls: int = 50
    hours: float = 24.0
    confidence: float = 0.95
    latency_factor: float = 2.0
    max_changed: float = 0.1

    @property
    def z(self) -> float:
        return NormalDist().inv_cdf(self.confidence)


def wilson(failures: int, total: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when nothing was observed."""
    if total <= 0:
        return 0.0, 1.0
    p = failures / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / (1 + z2 / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile, nearest rank (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class VersionStats:
    calls: int
    errors: int
    timeouts: int
    error_low: float  # Wilson interval of the error rate
    error_high: float
    p95_ms: float | None
    mean_chars: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


def _stats(outcomes: list[str], durations: list[float], sizes: list[int], z: float) -> VersionStats:
    errors = sum(1 for o in outcomes if o != "ok")
    low, high = wilson(errors, len(outcomes), z)
    return VersionStats(len(outcomes), errors, sum(1 for o in outcomes if o == "timeout"), round(low, 4),
                        round(high, 4), p95(durations), sum(sizes) / len(sizes) if sizes else None)


@dataclass(frozen=True)
class Health:
    mode: str
    old: VersionStats
    new: VersionStats
    shadowed: int  # shadow mode: calls the new version has run beside the old
    changed: int  # shadow mode: both ok, outputs differ
    changed_low: float
    verdict: Verdict
    reason: str
    calls_to_promote: int  # new-version calls still needed before promotion (0 when due)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def assess(mode: str, calls: Sequence[CanaryCall], settings: MonitorSettings, started: datetime,
           now: datetime) -> Health:
    """The canary's health from its recorded calls, and what should happen next."""
    z = settings.z
    old_calls = [c for c in calls if c.version == "old"]
    served_new = [c for c in calls if c.version == "new"]
    old = _stats([c.outcome for c in old_calls], [c.duration_ms for c in old_calls if c.duration_ms is not None],
                 [c.output_chars for c in old_calls if c.output_chars is not None], z)
    shadowed = [c for c in old_calls if c.shadow_outcome is not None]
    if mode == "shadow":
        new = _stats([c.shadow_outcome or "ok" for c in shadowed],
                     [c.shadow_ms for c in shadowed if c.shadow_ms is not None], [], z)
    else:
        new = _stats([c.outcome for c in served_new], [c.duration_ms for c in served_new if c.duration_ms is not None],
                     [c.output_chars for c in served_new if c.output_chars is not None], z)
    changed = sum(1 for c in shadowed if c.differs)
    changed_low = round(wilson(changed, len(shadowed), z)[0], 4)
    remaining = max(0, settings.calls - new.calls)
    verdict, reason = _judge(mode, old, new, changed, len(shadowed), changed_low, settings, started, now)
    return Health(mode, old, new, len(shadowed), changed, changed_low, verdict, reason, remaining)


def _judge(mode: str, old: VersionStats, new: VersionStats, changed: int, shadowed: int, changed_low: float,
           settings: MonitorSettings, started: datetime, now: datetime) -> tuple[Verdict, str]:
    confidence = f"{settings.confidence:.0%}"
    if new.errors and new.error_low > old.error_high:
        return "rollback", (f"error rate regressed: new {new.errors}/{new.calls} (at least {new.error_low:.1%}) "
                            f"against old {old.errors}/{old.calls} (at most {old.error_high:.1%}), {confidence} "
                            "one-sided Wilson intervals")
    if (old.calls >= MIN_LATENCY_CALLS and new.calls >= MIN_LATENCY_CALLS and old.p95_ms and new.p95_ms
            and new.p95_ms > settings.latency_factor * old.p95_ms and new.p95_ms - old.p95_ms >= LATENCY_MARGIN_MS):
        return "rollback", (f"p95 call time regressed: new {_ms(new.p95_ms)} against old {_ms(old.p95_ms)} "
                            f"(limit {settings.latency_factor:g}x and {LATENCY_MARGIN_MS:.0f} ms)")
    if mode == "shadow" and changed and changed_low > settings.max_changed:
        return "rollback", (f"outputs changed on {changed} of {shadowed} shadowed calls (at least {changed_low:.1%}, "
                            f"limit {settings.max_changed:.0%}, {confidence} one-sided)")
    if new.calls >= settings.calls:
        return "promote", f"{new.calls} calls on the new version without a regression (target {settings.calls})"
    hours = (now - started).total_seconds() / 3600
    if hours >= settings.hours:
        return "promote", f"{hours:.1f} h without a regression (limit {settings.hours:g} h; {new.calls} calls)"
    return "continue", (f"watching: {new.calls} of {settings.calls} calls on the new version, "
                        f"{hours:.1f} of {settings.hours:g} h")
