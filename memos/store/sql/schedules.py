"""Scheduled messages and the claims that make each due time run once."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from memos.errors import NotFound
from memos.store import ids
from memos.store.base import Schedule, ScheduledRun
from memos.store.sql.host import SQLHost
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

SCHEDULE_COLUMNS = ("id, agent_id, messages, options, cron_expression, time_zone, scheduled_at, next_run_at, "
                    "created_at")
RUN_COLUMNS = "schedule_id, due_at, agent_id, claimed_by, claimed_at, run_id, status, detail"


def _schedule(row: Sequence[Any]) -> Schedule:
    return Schedule(row[0], row[1], tuple(json_value(row[2], ())), dict(json_value(row[3], {})), row[4], row[5],
                    from_db(row[6]) if row[6] else None, from_db(row[7]) if row[7] else None, from_db(row[8]))


def _run(row: Sequence[Any]) -> ScheduledRun:
    return ScheduledRun(row[0], from_db(row[1]), row[2], row[3], from_db(row[4]), row[5], row[6], row[7])


class SchedulesMixin(SQLHost):
    def _schedule_row(self, con: Any, schedule_id: str) -> Schedule:
        row = con.execute(f"SELECT {SCHEDULE_COLUMNS} FROM scheduled_messages WHERE id = ?", [schedule_id]).fetchone()
        if row is None:
            raise NotFound(f"no scheduled message '{schedule_id}'", "see `memos schedule list`")
        return _schedule(row)

    def create_schedule(self, agent_id: str, messages: Sequence[dict[str, Any]], options: Mapping[str, Any], *,
                        cron_expression: str | None, time_zone: str, scheduled_at: datetime | None,
                        next_run_at: datetime) -> Schedule:
        schedule_id = ids.new_id("schedule")
        with self._write() as con:
            agent = self._agent_row(con, agent_id)
            con.execute(f"INSERT INTO scheduled_messages ({SCHEDULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [schedule_id, agent.id, json.dumps(list(messages)), json.dumps(dict(options)),
                         cron_expression, time_zone, to_db(scheduled_at) if scheduled_at else None,
                         to_db(next_run_at), to_db(utcnow())])
            return self._schedule_row(con, schedule_id)

    def get_schedule(self, schedule_id: str) -> Schedule:
        with self._read() as con:
            return self._schedule_row(con, schedule_id)

    def list_schedules(self, agent_id: str | None = None) -> list[Schedule]:
        where, params = ("agent_id = ?", [agent_id]) if agent_id else ("true", [])
        with self._read() as con:
            return [_schedule(r) for r in con.execute(
                f"SELECT {SCHEDULE_COLUMNS} FROM scheduled_messages WHERE {where} ORDER BY created_at, id",
                params).fetchall()]

    def delete_schedule(self, schedule_id: str) -> None:
        with self._write() as con:
            current = self._schedule_row(con, schedule_id)
            self._lock(con, current.id)
            con.execute("DELETE FROM scheduled_runs WHERE schedule_id = ?", [current.id])
            con.execute("DELETE FROM scheduled_messages WHERE id = ?", [current.id])

    def due_schedules(self, now: datetime) -> list[Schedule]:
        with self._read() as con:
            return [_schedule(r) for r in con.execute(
                f"SELECT {SCHEDULE_COLUMNS} FROM scheduled_messages WHERE next_run_at IS NOT NULL AND next_run_at <= ? "
                "ORDER BY next_run_at, id", [to_db(now)]).fetchall()]

    def claim_schedule(self, schedule_id: str, due_at: datetime, next_run_at: datetime | None,
                       claimed_by: str) -> bool:
        with self._write() as con:
            self._lock(con, schedule_id)  # PostgreSQL: replicas claim one at a time (DuckDB: one writer)
            row = con.execute("SELECT agent_id, next_run_at FROM scheduled_messages WHERE id = ?",
                              [schedule_id]).fetchone()
            if row is None or row[1] is None or from_db(row[1]) != due_at:
                return False  # deleted, or another process claimed this due time first
            con.execute("UPDATE scheduled_messages SET next_run_at = ? WHERE id = ?",
                        [to_db(next_run_at) if next_run_at else None, schedule_id])
            con.execute(f"INSERT INTO scheduled_runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, 'claimed', NULL)",
                        [schedule_id, to_db(due_at), row[0], claimed_by, to_db(utcnow())])
            return True

    def finish_scheduled_run(self, schedule_id: str, due_at: datetime, *, run_id: str | None, status: str,
                             detail: str | None = None) -> None:
        with self._write() as con:
            con.execute("UPDATE scheduled_runs SET run_id = ?, status = ?, detail = ? WHERE schedule_id = ? "
                        "AND due_at = ?", [run_id, status, detail, schedule_id, to_db(due_at)])

    def scheduled_runs(self, schedule_id: str | None = None, limit: int = 100) -> list[ScheduledRun]:
        where, params = ("schedule_id = ?", [schedule_id]) if schedule_id else ("true", [])
        with self._read() as con:
            return [_run(r) for r in con.execute(
                f"SELECT {RUN_COLUMNS} FROM scheduled_runs WHERE {where} ORDER BY due_at DESC, claimed_at DESC "
                "LIMIT ?", [*params, limit]).fetchall()]
