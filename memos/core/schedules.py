"""Scheduled messages: sent to an agent at a time or on a cron expression, each due time run
once by whichever process claims it first (`memos schedule run` from cron, or `memos serve`).

A recurring schedule's expression is read in its time zone (the machine's for `memos schedule
add`, UTC for Letta's API, as Letta Cloud does), so "0 8 * * *" stays at eight o'clock across
daylight-saving changes. A schedule that fell due while nothing was running fires once when it
is next looked at (for the latest due time it missed), not once per missed time. A process that
dies between claiming a due time and running its turn leaves that claim `claimed` with no run:
the message is not sent twice, and `memos schedule list --runs` shows it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from memos.core.workspace import Workspace
from memos.errors import InvalidInput, MemosError, first_line
from memos.store.base import Agent, Schedule

_RELATIVE = re.compile(r"^(?:in\s+)?(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
CHECK_EVERY = 15.0  # seconds between a server's looks for due schedules (at most)


def local_zone() -> str:
    """The IANA name of this machine's time zone (TZ, else /etc/localtime), else UTC."""
    named = os.environ.get("TZ", "").lstrip(":")
    if named and _zone_or_none(named):
        return named
    try:
        target = Path("/etc/localtime").resolve()
        parts = target.parts
        name = "/".join(parts[parts.index("zoneinfo") + 1:]) if "zoneinfo" in parts else ""
        if name and _zone_or_none(name):
            return name.removeprefix("Etc/") if name in ("Etc/UTC", "Etc/Universal") else name
    except OSError:
        pass
    return "UTC"


def _zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone(name: str) -> ZoneInfo:
    found = _zone_or_none(name)
    if found is None:
        raise InvalidInput(f"'{name}' is not a time zone", "use an IANA name such as Europe/Lisbon or UTC")
    return found


def is_cron(spec: str) -> bool:
    return len(spec.split()) == 5 or spec.strip().startswith("@")


def next_after(cron_expression: str, time_zone: str, after: datetime) -> datetime:
    """The first time after ``after`` that the expression names, read in ``time_zone`` (UTC)."""
    from cronsim import CronSim, CronSimError

    try:
        upcoming = CronSim(cron_expression, after.astimezone(zone(time_zone)))
        return next(upcoming).astimezone(UTC)
    except (CronSimError, StopIteration) as exc:
        raise InvalidInput(f"'{cron_expression}' is not a cron expression ({first_line(exc)})",
                           "five fields: minute hour day-of-month month day-of-week, e.g. '0 8 * * *'") from None


def one_off_time(spec: str, time_zone: str, now: datetime) -> datetime:
    """A one-off time: ISO 8601 (read in ``time_zone`` without an offset) or ``in 2h`` / ``30m``."""
    text = spec.strip()
    match = _RELATIVE.match(text)
    if match:
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"'{spec}' is neither a cron expression nor a time",
                           "e.g. '0 8 * * *', '2026-12-24T09:00' or 'in 2h'") from None
    return (when if when.tzinfo else when.replace(tzinfo=zone(time_zone))).astimezone(UTC)


@dataclass(frozen=True)
class Timing:
    cron_expression: str | None
    scheduled_at: datetime | None
    time_zone: str

    def first_run(self, now: datetime) -> datetime:
        if self.cron_expression is not None:
            return next_after(self.cron_expression, self.time_zone, now)
        assert self.scheduled_at is not None
        if self.scheduled_at <= now:
            raise InvalidInput(f"{self.scheduled_at.isoformat()} has passed", "schedule a time in the future")
        return self.scheduled_at


def timing_from_text(spec: str, time_zone: str | None = None, now: datetime | None = None) -> Timing:
    """What a person types: a cron expression, or one time."""
    tz = time_zone or local_zone()
    zone(tz)
    if is_cron(spec):
        return Timing(spec.strip(), None, tz)
    return Timing(None, one_off_time(spec, tz, now or datetime.now(UTC)), tz)


def timing_from_letta(schedule: dict[str, Any]) -> Timing:
    """Letta's schedule: ``{"type": "one-time", "scheduled_at": <Unix ms>}`` or
    ``{"type": "recurring", "cron_expression": ...}`` (read in UTC, as Letta Cloud does)."""
    if schedule.get("type") == "recurring" or "cron_expression" in schedule:
        expression = str(schedule.get("cron_expression") or "")
        if not expression.strip():
            raise InvalidInput("a recurring schedule needs a cron_expression", "e.g. '0 8 * * *'")
        return Timing(expression.strip(), None, "UTC")
    at = schedule.get("scheduled_at")
    if not isinstance(at, int | float) or isinstance(at, bool):
        raise InvalidInput("a one-time schedule needs scheduled_at (a Unix time in milliseconds)",
                           "e.g. int(time.time() * 1000) + 3_600_000 for an hour from now")
    return Timing(None, datetime.fromtimestamp(at / 1000, UTC), "UTC")


def add_schedule(ws: Workspace, agent: Agent, timing: Timing, messages: Sequence[dict[str, Any]],
                 options: dict[str, Any] | None = None, now: datetime | None = None) -> Schedule:
    if not any(message_text(m).strip() for m in messages):
        raise InvalidInput("a scheduled message needs some text", "give the message to send")
    first = timing.first_run(now or datetime.now(UTC))
    return ws.store.create_schedule(agent.id, messages, options or {}, cron_expression=timing.cron_expression,
                                    time_zone=timing.time_zone, scheduled_at=timing.scheduled_at, next_run_at=first)


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content or [] if isinstance(part, dict))


# -- running what is due -------------------------------------------------------------------
@dataclass(frozen=True)
class ScheduleOutcome:
    schedule: Schedule
    due_at: datetime
    status: str  # completed | failed
    run_id: str | None
    reply: str
    detail: str | None = None


def run_due(ws: Workspace, *, now: datetime | None = None, claimed_by: str | None = None) -> list[ScheduleOutcome]:
    """Run every schedule due at ``now`` that this process claims (another process may claim
    some first: it runs those)."""
    moment = now or datetime.now(UTC)
    who = claimed_by or _process_name()
    outcomes: list[ScheduleOutcome] = []
    for schedule in ws.store.due_schedules(moment):
        assert schedule.next_run_at is not None
        due = schedule.next_run_at
        following = next_after(schedule.cron_expression, schedule.time_zone, moment) \
            if schedule.cron_expression else None
        if not ws.store.claim_schedule(schedule.id, due, following, who):
            continue  # another process has this due time
        try:
            run_id, reply = send_scheduled(ws, schedule)
        except MemosError as exc:
            ws.store.finish_scheduled_run(schedule.id, due, run_id=None, status="failed", detail=str(exc))
            outcomes.append(ScheduleOutcome(schedule, due, "failed", None, "", str(exc)))
            continue
        ws.store.finish_scheduled_run(schedule.id, due, run_id=run_id, status="completed")
        outcomes.append(ScheduleOutcome(schedule, due, "completed", run_id, reply))
    return outcomes


def send_scheduled(ws: Workspace, schedule: Schedule) -> tuple[str | None, str]:
    """One turn of the schedule's agent for its messages (system ones go in first as notes),
    waiting for any other turn of the agent as `memos send` does; recorded as any run is."""
    from memos.core import events as ev
    from memos.core.agent import AgentRunner
    from memos.core.limits import DEFAULT_MAX_STEPS
    from memos.core.reviews import start_reviews
    from memos.tools.custom import custom_tools_for

    agent = ws.store.get_agent(schedule.agent_id)
    text = "\n\n".join(message_text(m) for m in schedule.messages if m.get("role", "user") != "system")
    notes = [message_text(m) for m in schedule.messages if m.get("role") == "system"]
    tools, _ = custom_tools_for(ws, agent)
    runner = AgentRunner(ws, agent, max_steps=int(schedule.options.get("max_steps") or DEFAULT_MAX_STEPS),
                         custom_tools=tools)
    result = ev.TurnResult()
    try:
        result.events.extend(runner.send(text, threading.Event(), system_notes=notes))
    finally:
        if tools is not None:
            tools.close()
    start_reviews(runner)
    stop = result.stop
    return (stop.run_id if stop else None), result.reply


def _process_name() -> str:
    from memos.store.replica import replica_id

    return f"{replica_id()}:{os.getpid()}"


class ScheduleWatcher:
    """What `memos serve` runs: a thread that looks for due schedules every CHECK_EVERY seconds
    (sooner when one falls due sooner) and runs them."""

    def __init__(self, ws: Workspace, on_outcome: Callable[[ScheduleOutcome], None] | None = None,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.ws = ws
        self.on_outcome = on_outcome
        self.on_error = on_error
        self._stop = threading.Event()
        self._look = threading.Event()  # set: look again now (a schedule was added here)
        self._thread = threading.Thread(target=self._loop, name="memos-schedules", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._look.set()
        self._thread.join(timeout)

    def poke(self) -> None:
        """Look again now: a schedule added by this process may fall due before the next look
        (one added by another process is seen within CHECK_EVERY seconds)."""
        self._look.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                for outcome in run_due(self.ws):
                    if self.on_outcome:
                        self.on_outcome(outcome)
            except Exception as exc:  # noqa: BLE001 - a failed look must not end the watcher
                if self.on_error:
                    self.on_error(exc)
            self._look.wait(self._until_next())
            self._look.clear()

    def _until_next(self) -> float:
        try:
            upcoming = [s.next_run_at for s in self.ws.store.list_schedules() if s.next_run_at is not None]
        except MemosError:
            return CHECK_EVERY
        if not upcoming:
            return CHECK_EVERY
        seconds = (min(upcoming) - datetime.now(UTC)).total_seconds()
        return max(0.05, min(CHECK_EVERY, seconds))
