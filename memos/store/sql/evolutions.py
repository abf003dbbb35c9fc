"""Evolutions of agents' tool code, and small key/value facts (store_meta)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Unpack

from memos.errors import InvalidInput, NotFound
from memos.store import ids
from memos.store.base import CanaryCall, Evolution, EvolutionChanges, EvolutionStatus
from memos.store.sql.host import SQLHost
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

COLUMNS = ("id, agent_id, branch, base_commit, head_commit, status, title, rationale, test_report, shadow_report, "
           "decided_by, created_at, updated_at, canary, stages, utility, usage, reason")
JSON_FIELDS = ("test_report", "shadow_report", "canary", "stages", "utility", "usage")
UPDATABLE = {"branch", "head_commit", "status", "title", "rationale", "decided_by", "reason", *JSON_FIELDS}
CANARY_COLUMNS = ("id, evolution_id, agent_id, tool, tool_call_id, version, outcome, duration_ms, output_chars, "
                  "shadow_outcome, shadow_ms, differs, created_at")


def _evolution(row: Sequence[Any]) -> Evolution:
    return Evolution(id=row[0], agent_id=row[1], branch=row[2], base_commit=row[3], head_commit=row[4],
                     status=row[5], title=row[6], rationale=row[7], test_report=json_value(row[8]),
                     shadow_report=json_value(row[9]), decided_by=row[10], created_at=from_db(row[11]),
                     updated_at=from_db(row[12]), canary=json_value(row[13]), stages=json_value(row[14]),
                     utility=json_value(row[15]), usage=json_value(row[16]), reason=row[17])


def _canary_call(row: Sequence[Any]) -> CanaryCall:
    return CanaryCall(id=row[0], evolution_id=row[1], agent_id=row[2], tool=row[3], tool_call_id=row[4],
                      version=row[5], outcome=row[6], duration_ms=row[7], output_chars=row[8],
                      shadow_outcome=row[9], shadow_ms=row[10], differs=row[11], created_at=from_db(row[12]))


class EvolutionsMixin(SQLHost):
    def create_evolution(self, agent_id: str, branch: str, base_commit: str | None, *, title: str = "",
                         rationale: str = "", status: EvolutionStatus = "running") -> Evolution:
        evolution_id, now = ids.new_id("evo"), to_db(utcnow())
        with self._write() as con:
            self._agent_row(con, agent_id)
            con.execute("INSERT INTO evolutions (id, agent_id, branch, base_commit, status, title, rationale, created_at, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [evolution_id, agent_id, branch, base_commit, status, title, rationale, now, now])
            return _evolution(con.execute(f"SELECT {COLUMNS} FROM evolutions WHERE id = ?", [evolution_id]).fetchone())

    def update_evolution(self, evolution_id: str, **fields: Unpack[EvolutionChanges]) -> Evolution:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"cannot update evolution fields {sorted(unknown)}")
        values: dict[str, Any] = dict(fields)
        for key in JSON_FIELDS:
            if values.get(key) is not None:
                values[key] = json.dumps(values[key])
        with self._write() as con:
            if values:
                assignments = ", ".join(f"{key} = ?" for key in values)
                con.execute(f"UPDATE evolutions SET {assignments}, updated_at = ? WHERE id = ?",
                            [*values.values(), to_db(utcnow()), evolution_id])
            row = con.execute(f"SELECT {COLUMNS} FROM evolutions WHERE id = ?", [evolution_id]).fetchone()
        if row is None:
            raise NotFound(f"no evolution '{evolution_id}'", "see `memos evolve list`")
        return _evolution(row)

    def get_evolution(self, evolution_id: str) -> Evolution:
        with self._read() as con:
            found = con.execute(f"SELECT {COLUMNS} FROM evolutions WHERE id = ? OR starts_with(id, CAST(? AS VARCHAR)) "
                                "OR starts_with(id, 'evo-' || CAST(? AS VARCHAR)) LIMIT 2",
                                [evolution_id, evolution_id, evolution_id]).fetchall()
        exact = [r for r in found if r[0] == evolution_id]
        if exact or len(found) == 1:
            return _evolution((exact or found)[0])
        if not found:
            raise NotFound(f"no evolution '{evolution_id}'", "see `memos evolve list`")
        raise InvalidInput(f"'{evolution_id}' matches several evolutions", "give more of the id")

    def list_evolutions(self, agent_id: str | None = None,
                        status: EvolutionStatus | None = None) -> list[Evolution]:
        where, params = ["true"], []
        if agent_id:
            where.append("agent_id = ?")
            params.append(agent_id)
        if status:
            where.append("status = ?")
            params.append(status)
        with self._read() as con:
            return [_evolution(r) for r in con.execute(
                f"SELECT {COLUMNS} FROM evolutions WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC",
                params).fetchall()]

    def record_canary_calls(self, calls: Sequence[CanaryCall]) -> None:
        if not calls:
            return
        now = to_db(utcnow())
        with self._write() as con:
            for call in calls:
                con.execute(f"INSERT INTO canary_calls ({CANARY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [call.id, call.evolution_id, call.agent_id, call.tool, call.tool_call_id, call.version,
                             call.outcome, call.duration_ms, call.output_chars, call.shadow_outcome, call.shadow_ms,
                             call.differs, to_db(call.created_at) if call.created_at else now])

    def list_canary_calls(self, evolution_id: str) -> list[CanaryCall]:
        with self._read() as con:
            return [_canary_call(r) for r in con.execute(
                f"SELECT {CANARY_COLUMNS} FROM canary_calls WHERE evolution_id = ? ORDER BY created_at, id",
                [evolution_id]).fetchall()]

    def get_meta(self, key: str) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as con:
            con.execute("INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        [key, value])
