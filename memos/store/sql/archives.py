"""Archives (Letta's): passages shared by several agents, and which agents they are attached to.
Their passages are stored as an agent's are, under the archive's id (PassagesMixin)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from memos.errors import NotFound
from memos.store import ids
from memos.store.base import Archive
from memos.store.sql.host import SQLHost
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

ARCHIVE_COLUMNS = "id, name, description, embedding_model, metadata, created_at, updated_at"
_ATTACHED_TABLES = frozenset({"archives", "agent_archives"})  # what agent_archives reads (ConnectionMemo)


def _archive(row: Sequence[Any]) -> Archive:
    return Archive(row[0], row[1], row[2], row[3], dict(json_value(row[4], {})), from_db(row[5]), from_db(row[6]))


class ArchivesMixin(SQLHost):
    def _archive_row(self, con: Any, archive_id: str) -> Archive:
        row = con.execute(f"SELECT {ARCHIVE_COLUMNS} FROM archives WHERE id = ?", [archive_id]).fetchone()
        if row is None:
            raise NotFound(f"no archive '{archive_id}'", "see GET /v1/archives/")
        return _archive(row)

    def create_archive(self, name: str, embedding_model: str, *, description: str | None = None,
                       metadata: Mapping[str, Any] | None = None) -> Archive:
        now, archive_id = to_db(utcnow()), ids.new_id("archive")
        with self._write() as con:
            con.execute(f"INSERT INTO archives ({ARCHIVE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [archive_id, name, description, embedding_model, json.dumps(dict(metadata or {})), now, now])
            return self._archive_row(con, archive_id)

    def get_archive(self, archive_id: str) -> Archive:
        with self._read() as con:
            return self._archive_row(con, archive_id)

    def list_archives(self) -> list[Archive]:
        with self._read() as con:
            return [_archive(r) for r in con.execute(
                f"SELECT {ARCHIVE_COLUMNS} FROM archives ORDER BY created_at, id").fetchall()]

    def update_archive(self, archive_id: str, *, name: str | None = None, description: str | None = None,
                       metadata: Mapping[str, Any] | None = None) -> Archive:
        with self._write() as con:
            current = self._archive_row(con, archive_id)
            con.execute("UPDATE archives SET name = ?, description = ?, metadata = ?, updated_at = ? WHERE id = ?",
                        [name if name is not None else current.name,
                         description if description is not None else current.description,
                         json.dumps(dict(metadata if metadata is not None else current.metadata)),
                         to_db(utcnow()), current.id])
            return self._archive_row(con, current.id)

    def delete_archive(self, archive_id: str) -> None:
        with self._write() as con:
            current = self._archive_row(con, archive_id)
            self._lock(con, current.id)
            self._delete_agent_extras(con, current.id)  # its passages' indexes, as an agent's
            con.execute("DELETE FROM passages WHERE agent_id = ?", [current.id])
            con.execute("DELETE FROM agent_archives WHERE archive_id = ?", [current.id])
            con.execute("DELETE FROM archives WHERE id = ?", [current.id])
            self._db.memo.clear()  # remembered passage facts (counts, tails) of the archive

    def attach_archive(self, agent_id: str, archive_id: str, attached: bool) -> None:
        with self._write() as con:
            agent, archive = self._agent_row(con, agent_id), self._archive_row(con, archive_id)
            con.execute("DELETE FROM agent_archives WHERE agent_id = ? AND archive_id = ?", [agent.id, archive.id])
            if attached:
                con.execute("INSERT INTO agent_archives (agent_id, archive_id, created_at) VALUES (?, ?, ?)",
                            [agent.id, archive.id, to_db(utcnow())])

    def agent_archives(self, agent_id: str) -> list[Archive]:
        with self._read() as con:
            return list(self._db.memo.read(("archives of", agent_id), _ATTACHED_TABLES, lambda: tuple(
                _archive(r) for r in con.execute(
                    f"SELECT {', '.join('a.' + c for c in ARCHIVE_COLUMNS.split(', '))} FROM archives a "
                    "JOIN agent_archives aa ON aa.archive_id = a.id WHERE aa.agent_id = ? "
                    "ORDER BY aa.created_at, a.id", [agent_id]).fetchall())))

    def archive_agents(self, archive_id: str) -> list[str]:
        with self._read() as con:
            self._archive_row(con, archive_id)
            return [r[0] for r in con.execute("SELECT agent_id FROM agent_archives WHERE archive_id = ? "
                                              "ORDER BY created_at, agent_id", [archive_id]).fetchall()]
