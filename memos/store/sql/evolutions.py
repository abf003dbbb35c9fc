"""Evolutions of agents' tool code, and small key/value facts (store_meta)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Unpack

from memos.errors import InvalidInput, NotFound
from memos.store import ids
from memos.store.base import Evolution, EvolutionChanges, EvolutionStatus
from memos.store.sql.host import SQLHost
from memos.store.timeutil import from_db, to_db, utcnow

COLUMNS = ("id, agent_id, branch, base_commit, head_commit, status, title, rationale, test_report, shadow_report, "
           "decided_by, created_at, updated_at")
UPDATABLE = {"branch", "head_commit", "status", "title", "rationale", "test_report", "shadow_report", "decided_by"}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _evolution(row: Sequence[Any]) -> Evolution:
    return Evolution(id=row[0], agent_id=row[1], branch=row[2], base_commit=row[3], head_commit=row[4],
                     status=row[5], title=row[6], rationale=row[7], test_report=_json(row[8]),
                     shadow_report=_json(row[9]), decided_by=row[10], created_at=from_db(row[11]),
                     updated_at=from_db(row[12]))


class EvolutionsMixin(SQLHost):
    def create_evolution(self, agent_id: str, branch: str, base_commit: str | None, *, title: str = "",
                         rationale: str = "", status: EvolutionStatus = "running") -> Evolution:
        evolution_id, now = ids.new_id("evo"), to_db(utcnow())
        with self._write() as con:
            self._agent_row(con, agent_id)
            con.execute(f"INSERT INTO evolutions ({COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, NULL, NULL, NULL, ?, ?)",
                        [evolution_id, agent_id, branch, base_commit, status, title, rationale, now, now])
            return _evolution(con.execute(f"SELECT {COLUMNS} FROM evolutions WHERE id = ?", [evolution_id]).fetchone())

    def update_evolution(self, evolution_id: str, **fields: Unpack[EvolutionChanges]) -> Evolution:
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise ValueError(f"cannot update evolution fields {sorted(unknown)}")
        values: dict[str, Any] = dict(fields)
        for key in ("test_report", "shadow_report"):
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

    def get_meta(self, key: str) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT value FROM store_meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._write() as con:
            con.execute("INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        [key, value])
