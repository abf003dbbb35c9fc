"""A short soak (tests/soak.py): concurrent pipelines, a server, a sleep pass and kill -9, then
every invariant checked. bench/soak.py runs the same for 10,000 turns."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak import Soak


@pytest.mark.timeout(600)
def test_a_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    report = Soak(tmp_path / "home", turns=100, workers=2, kill_every=25, sleep_every=60).run()
    assert report.problems == []
    assert report.turns >= 100 and len(set(report.acked)) == len(report.acked)
    assert report.kills >= 3 and report.sleep_passes >= 1
    senders = {name.split("-")[0] for name in report.acked}
    assert {"w0", "w1", "sh", "http"} <= senders  # every kind of pipeline got turns through
