"""Tools attached to agents (each agent's custom tools have their own rows)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memos.errors import InvalidInput, NotFound
from memos.store import ids
from memos.store.base import NewTool, ToolRecord
from memos.store.sql.host import SQLHost
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

TOOL_COLUMNS = ("t.id, t.name, t.description, t.json_schema, t.source_type, t.source_code, t.repo_commit, "
                "t.created_at, t.updated_at, t.tags, t.return_char_limit, t.requires_approval")
LIBRARY = "python"  # source_type of the shared library's tools (Letta's name for plain Python tools)
_TOOL_TABLES = frozenset({"tools", "agent_tools"})  # what list_agent_tools reads
AGENT_TOOLS = "FROM tools t JOIN agent_tools x ON x.tool_id = t.id WHERE x.agent_id = ?"


def _tool(row: Sequence[Any]) -> ToolRecord:
    return ToolRecord(id=row[0], name=row[1], description=row[2], json_schema=json_value(row[3]), source_type=row[4],
                      source_code=row[5], repo_commit=row[6], created_at=from_db(row[7]),
                      updated_at=from_db(row[8]), tags=list(json_value(row[9]) or []), return_char_limit=row[10],
                      requires_approval=bool(row[11]))


TOOL_INSERT = ("id, name, description, json_schema, source_type, source_code, repo_commit, created_at, updated_at, "
               "tags, return_char_limit, requires_approval")
# Settings a NewTool leaves at None keep what the row has.
KEEP_SETTINGS = ("tags = coalesce(?, tags), return_char_limit = coalesce(?, return_char_limit), "
                 "requires_approval = coalesce(?, requires_approval)")


def _settings(tool: NewTool) -> list[Any]:
    return [None if tool.tags is None else json.dumps(tool.tags), tool.return_char_limit, tool.requires_approval]


class ToolsMixin(SQLHost):
    def attach_tool(self, agent_id: str, tool: NewTool) -> ToolRecord:
        now = to_db(utcnow())
        with self._write() as con:
            self._agent_row(con, agent_id)
            self._lock(con, agent_id)  # one tool of a name per agent
            row = con.execute(f"SELECT t.id {AGENT_TOOLS} AND t.name = ?", [agent_id, tool.name]).fetchone()
            values = [tool.description, json.dumps(tool.json_schema), tool.source_type, tool.source_code,
                      tool.repo_commit]
            if row is None:
                tool_id = ids.new_id("tool")
                con.execute(f"INSERT INTO tools ({TOOL_INSERT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [tool_id, tool.name, *values, now, now, *_settings(tool)])
                con.execute("INSERT INTO agent_tools (agent_id, tool_id, created_at) VALUES (?, ?, ?)", [agent_id, tool_id, now])
            else:
                tool_id = row[0]
                con.execute("UPDATE tools SET description = ?, json_schema = ?, source_type = ?, source_code = ?, "
                            f"repo_commit = ?, updated_at = ?, {KEEP_SETTINGS} WHERE id = ?",
                            [*values, now, *_settings(tool), tool_id])
            return _tool(con.execute(f"SELECT {TOOL_COLUMNS} FROM tools t WHERE t.id = ?", [tool_id]).fetchone())

    def detach_tool(self, agent_id: str, name: str) -> bool:
        with self._write() as con:
            row = con.execute(f"SELECT t.id {AGENT_TOOLS} AND t.name = ?", [agent_id, name]).fetchone()
            if row is None:
                return False
            con.execute("DELETE FROM agent_tools WHERE agent_id = ? AND tool_id = ?", [agent_id, row[0]])
            # A repo tool row belongs to this one agent: drop it with the link.
            con.execute("DELETE FROM tools WHERE id = ? AND NOT EXISTS (SELECT 1 FROM agent_tools WHERE tool_id = ?)",
                        [row[0], row[0]])
            return True

    def list_agent_tools(self, agent_id: str) -> list[ToolRecord]:
        with self._read() as con:  # a turn asks several times: read again only after a write (ConnectionMemo)
            return list(self._db.memo.read(("tools", agent_id), _TOOL_TABLES, lambda: tuple(
                _tool(r) for r in con.execute(f"SELECT {TOOL_COLUMNS} {AGENT_TOOLS} ORDER BY t.name",
                                              [agent_id]).fetchall())))

    def tools_by_agent(self, agent_ids: Sequence[str]) -> dict[str, list[ToolRecord]]:
        found: dict[str, list[ToolRecord]] = {agent_id: [] for agent_id in agent_ids}
        if not found:
            return found
        with self._read() as con:
            for row in con.execute(
                    f"SELECT x.agent_id, {TOOL_COLUMNS} FROM tools t JOIN agent_tools x ON x.tool_id = t.id "
                    "WHERE x.agent_id IN (SELECT unnest($ids::VARCHAR[])) ORDER BY x.agent_id, t.name", {"ids": list(found)}).fetchall():
                found[row[0]].append(_tool(row[1:]))
        return found

    def save_library_tool(self, tool: NewTool) -> ToolRecord:
        now = to_db(utcnow())
        with self._write() as con:
            self._lock(con, "tool-library")
            row = con.execute(f"SELECT id FROM tools WHERE name = ? AND source_type = '{LIBRARY}'",
                              [tool.name]).fetchone()
            values = [tool.description, json.dumps(tool.json_schema), tool.source_code]
            if row is None:
                tool_id = ids.new_id("tool")
                con.execute(f"INSERT INTO tools ({TOOL_INSERT}) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
                            [tool_id, tool.name, tool.description, values[1], LIBRARY, tool.source_code, now, now,
                             *_settings(tool)])
            else:
                tool_id = row[0]
                con.execute(f"UPDATE tools SET description = ?, json_schema = ?, source_code = ?, updated_at = ?, "
                            f"{KEEP_SETTINGS} WHERE id = ?", [*values, now, *_settings(tool), tool_id])
            return _tool(con.execute(f"SELECT {TOOL_COLUMNS} FROM tools t WHERE t.id = ?", [tool_id]).fetchone())

    def update_library_tool(self, tool_id: str, tool: NewTool) -> ToolRecord:
        now = to_db(utcnow())
        with self._write() as con:
            self._lock(con, "tool-library")
            row = con.execute("SELECT source_type FROM tools WHERE id = ?", [tool_id]).fetchone()
            if row is None:
                raise NotFound(f"no tool '{tool_id}'", "list them with GET /v1/tools/")
            clash = con.execute(f"SELECT id FROM tools WHERE name = ? AND source_type = '{LIBRARY}' AND id <> ?",
                                [tool.name, tool_id]).fetchone()
            if clash is not None:
                raise InvalidInput(f"the library already has a tool named {tool.name}", "give the function another name")
            con.execute(f"UPDATE tools SET name = ?, description = ?, json_schema = ?, source_code = ?, updated_at = ?, "
                        f"{KEEP_SETTINGS} WHERE id = ?", [tool.name, tool.description, json.dumps(tool.json_schema),
                                                          tool.source_code, now, *_settings(tool), tool_id])
            return _tool(con.execute(f"SELECT {TOOL_COLUMNS} FROM tools t WHERE t.id = ?", [tool_id]).fetchone())

    def delete_tool(self, tool_id: str) -> list[str]:
        with self._write() as con:
            if con.execute("SELECT 1 FROM tools WHERE id = ?", [tool_id]).fetchone() is None:
                raise NotFound(f"no tool '{tool_id}'", "list them with GET /v1/tools/")
            agents = [r[0] for r in con.execute("SELECT agent_id FROM agent_tools WHERE tool_id = ? ORDER BY agent_id",
                                                [tool_id]).fetchall()]
            con.execute("DELETE FROM agent_tools WHERE tool_id = ?", [tool_id])
            con.execute("DELETE FROM tools WHERE id = ?", [tool_id])
            return agents

    def list_tools(self) -> list[ToolRecord]:
        with self._read() as con:
            return [_tool(r) for r in con.execute(
                f"SELECT {TOOL_COLUMNS} FROM tools t ORDER BY t.name, t.created_at").fetchall()]

    def library_tools(self) -> list[ToolRecord]:
        with self._read() as con:
            return [_tool(r) for r in con.execute(
                f"SELECT {TOOL_COLUMNS} FROM tools t WHERE t.source_type = '{LIBRARY}' ORDER BY t.name").fetchall()]

    def get_tool(self, tool_id: str) -> ToolRecord:
        with self._read() as con:
            row = con.execute(f"SELECT {TOOL_COLUMNS} FROM tools t WHERE t.id = ?", [tool_id]).fetchone()
        if row is None:
            raise NotFound(f"no tool '{tool_id}'", "list them with GET /v1/tools/")
        return _tool(row)
