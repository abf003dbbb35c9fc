"""Times are stored as naive UTC and handed out as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_db(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


@overload
def from_db(value: datetime) -> datetime: ...
@overload
def from_db(value: None) -> None: ...
@overload
def from_db(value: datetime | None) -> datetime | None: ...
def from_db(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
