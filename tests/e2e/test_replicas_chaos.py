"""Chaos among three replicas on one PostgreSQL (tests/chaos.py): a short run in the suite, with a
shorter lease and freeze than bench/chaos.py's (the issue's 300 turns and 90 s freeze)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos import Chaos, reply
from tests.conftest import serving
from tests.fakellm import FakeLLM


@pytest.mark.timeout(600)
def test_chaos_among_replicas_keeps_every_invariant(postgres_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in serving(FakeLLM(responder=reply, keep_requests=False), monkeypatch):
        chaos = Chaos(tmp_path, postgres_url, turns=60, clients=4, replica_count=3, freeze_seconds=12,
                      lease_seconds=4, request_timeout=10)
        try:
            report = chaos.run()
        finally:
            chaos.stop()
        assert report.problems == [], "\n".join(report.problems)
        assert report.kills == 1 and report.freezes == 1 and report.evolution is not None
        kinds = {o.kind for o in report.outcomes if o.answered}
        assert {"plain", "tool", "mcp", "stream"} <= kinds
        assert any(o.cancelled for o in report.outcomes)
