"""When scheduled messages fall due: cron expressions read in a time zone (across a
daylight-saving change), one-off times, Letta's schedule objects, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memos.core import schedules
from memos.errors import InvalidInput

NOW = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # the day before Lisbon moves to summer time


def test_a_cron_expression_is_read_in_its_time_zone_across_daylight_saving() -> None:
    first = schedules.next_after("0 8 * * *", "Europe/Lisbon", NOW)
    second = schedules.next_after("0 8 * * *", "Europe/Lisbon", first)
    assert first == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 08:00 WEST (UTC+1) on the 29th
    assert second == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert schedules.next_after("0 8 * * *", "UTC", NOW) == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert schedules.next_after("*/15 * * * *", "UTC", NOW) == NOW + timedelta(minutes=15)


def test_what_a_person_types_is_a_cron_expression_or_one_time() -> None:
    cron = schedules.timing_from_text("30 7 * * 1-5", "Europe/Lisbon", NOW)
    assert (cron.cron_expression, cron.scheduled_at, cron.time_zone) == ("30 7 * * 1-5", None, "Europe/Lisbon")
    assert cron.first_run(NOW) == datetime(2026, 3, 30, 6, 30, tzinfo=UTC)  # Monday, 07:30 WEST
    assert schedules.timing_from_text("in 2h", "UTC", NOW).scheduled_at == NOW + timedelta(hours=2)
    assert schedules.timing_from_text("45m", "UTC", NOW).scheduled_at == NOW + timedelta(minutes=45)
    local = schedules.timing_from_text("2026-04-01T09:00", "America/New_York", NOW)
    assert local.scheduled_at == datetime(2026, 4, 1, 13, 0, tzinfo=UTC)
    assert schedules.timing_from_text("2026-04-01T09:00Z", "Asia/Tokyo", NOW).scheduled_at == \
        datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("spec", "zone", "said"), [
    ("61 8 * * *", "UTC", "is not a cron expression"),
    ("tomorrow-ish", "UTC", "neither a cron expression nor a time"),
    ("0 8 * * *", "Mars/Base", "is not a time zone"),
    ("2026-03-01T09:00", "UTC", "has passed"),
])
def test_bad_timings_are_one_clear_line(spec: str, zone: str, said: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        schedules.timing_from_text(spec, zone, NOW).first_run(NOW)
    assert said in str(refused.value) and "\n" not in str(refused.value)


def test_lettas_schedules_are_unix_milliseconds_or_cron_in_utc() -> None:
    at = schedules.timing_from_letta({"type": "one-time", "scheduled_at": 1774785600000})
    assert at.scheduled_at == datetime(2026, 3, 29, 12, 0, tzinfo=UTC) and at.time_zone == "UTC"
    every = schedules.timing_from_letta({"type": "recurring", "cron_expression": "0 9 * * *"})
    assert every.cron_expression == "0 9 * * *" and every.time_zone == "UTC"
    for bad in ({"type": "one-time"}, {"type": "recurring", "cron_expression": " "},
                {"type": "one-time", "scheduled_at": True}):
        with pytest.raises(InvalidInput):
            schedules.timing_from_letta(bad)


def test_the_machines_zone_is_named_from_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Lisbon")
    assert schedules.local_zone() == "Europe/Lisbon"
    monkeypatch.setenv("TZ", "Nowhere/Special")
    assert schedules.local_zone() != "Nowhere/Special"  # falls back to /etc/localtime, else UTC
