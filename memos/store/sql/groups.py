"""Groups (Letta's multi-agent groups): a manager agent and the agents working for it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memos.errors import NotFound
from memos.store import ids
from memos.store.base import Group
from memos.store.sql.host import SQLHost
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

_GROUP_TABLES = frozenset({"agent_groups"})  # what list_groups reads
GROUP_COLUMNS = ("id, manager_type, manager_agent_id, agent_ids, description, frequency, turns_counter, "
                 "last_processed_message_id, created_at, updated_at")


def _group(row: Sequence[Any]) -> Group:
    members = row[3]
    return Group(row[0], row[1], row[2], tuple(json_value(members, ())),
                 row[4], row[5], int(row[6] or 0), row[7], from_db(row[8]), from_db(row[9]))


class GroupsMixin(SQLHost):
    def _group_row(self, con: Any, group_id: str) -> Group:
        row = con.execute(f"SELECT {GROUP_COLUMNS} FROM agent_groups WHERE id = ?", [group_id]).fetchone()
        if row is None:
            raise NotFound(f"no group '{group_id}'", "see GET /v1/groups")
        return _group(row)

    def create_group(self, manager_type: str, manager_agent_id: str | None, agent_ids: Sequence[str], *,
                     description: str | None = None, frequency: int | None = None) -> Group:
        now, group_id = to_db(utcnow()), ids.new_id("group")
        with self._write() as con:
            for agent_id in [*([manager_agent_id] if manager_agent_id else []), *agent_ids]:
                self._agent_row(con, agent_id)
            # Letta starts a counted group's counter at -1: its agents run on the first turn, then
            # every `frequency` turns.
            con.execute(f"INSERT INTO agent_groups ({GROUP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                        [group_id, manager_type, manager_agent_id, json.dumps(list(agent_ids)), description,
                         frequency, -1 if frequency else 0, now, now])
            return self._group_row(con, group_id)

    def get_group(self, group_id: str) -> Group:
        with self._read() as con:
            return self._group_row(con, group_id)

    def list_groups(self, agent_id: str | None = None) -> list[Group]:
        with self._read() as con:  # read after every turn: again only after a write (ConnectionMemo)
            found = list(self._db.memo.read(("groups",), _GROUP_TABLES, lambda: tuple(_group(r) for r in con.execute(
                f"SELECT {GROUP_COLUMNS} FROM agent_groups ORDER BY created_at, id").fetchall())))
        if agent_id is None:
            return found
        return [g for g in found if g.manager_agent_id == agent_id or agent_id in g.agent_ids]

    def update_group(self, group_id: str, *, description: str | None = None, frequency: int | None = None,
                     agent_ids: Sequence[str] | None = None) -> Group:
        with self._write() as con:
            current = self._group_row(con, group_id)
            self._lock(con, current.id)
            # A new frequency keeps the count (as Letta's does): a group that has not run yet still
            # runs on the next turn.
            con.execute("UPDATE agent_groups SET description = ?, frequency = ?, agent_ids = ?, updated_at = ? "
                        "WHERE id = ?",
                        [description if description is not None else current.description,
                         frequency if frequency is not None else current.frequency,
                         json.dumps(list(agent_ids if agent_ids is not None else current.agent_ids)),
                         to_db(utcnow()), current.id])
            return self._group_row(con, current.id)

    def delete_group(self, group_id: str) -> None:
        with self._write() as con:
            current = self._group_row(con, group_id)
            con.execute("DELETE FROM agent_groups WHERE id = ?", [current.id])

    def count_group_turn(self, group_id: str, last_message_id: str | None) -> tuple[bool, str | None]:
        with self._write() as con:
            current = self._group_row(con, group_id)
            self._lock(con, current.id)
            # Letta's count: the agents run when the counter comes round to 0 (every turn without a frequency).
            counter = (current.turns_counter + 1) % current.frequency if current.frequency else 0
            due = counter == 0
            con.execute("UPDATE agent_groups SET turns_counter = ?, last_processed_message_id = ? WHERE id = ?",
                        [counter, last_message_id if due else current.last_processed_message_id, current.id])
            return due, current.last_processed_message_id
