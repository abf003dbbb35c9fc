"""Dates from people: ISO 8601 (``2026-11-01``, ``2026-11-01T09:30``) or relative (``7d``, ``12h``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from memos.errors import InvalidInput

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(raw: str, *, end_of_day: bool = False) -> datetime:
    text = raw.strip()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: amount})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"'{raw}' is not a date", "use ISO 8601 like 2026-11-01 or 2026-11-01T09:30, or 7d / 12h") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if end_of_day and len(text) == 10:  # a bare date as an upper bound means the whole day
        value = value + timedelta(days=1) - timedelta(microseconds=1)
    return value


def iso_bound(raw: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An optional ISO date argument named ``name`` (a tool's or a query's); a bare date as
    ``end`` covers the whole day."""
    if not raw:
        return None
    try:
        return parse_when(raw, end_of_day=end)
    except InvalidInput:
        raise InvalidInput(f"{name} '{raw}' is not an ISO date like 2026-11-01 or 2026-11-01T09:30") from None
