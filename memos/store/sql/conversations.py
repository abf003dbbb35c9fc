"""Conversations: an agent's separate threads, each with its own messages and context.

A conversation owns its messages (messages.conversation_id; NULL is the agent's own, default
conversation) and the runs started in it. Memory blocks, archival memory and tools are the
agent's, shared by all of its conversations.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Literal, cast

from memos.errors import AlreadyExists, InvalidInput, NotFound
from memos.store import ids
from memos.store.base import Conversation, NewMessage, Role
from memos.store.sql import rows
from memos.store.sql.host import SQLHost
from memos.store.sql.keyset import page_after
from memos.store.sql.messages import scope_to
from memos.store.timeutil import to_db, utcnow

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SORT_KEYS = {"created_at": "created_at", "last_message_at": "coalesce(last_message_at, created_at)"}


def check_name(name: str) -> str:
    if not NAME.match(name) or ids.looks_like("conv", name):
        raise InvalidInput(f"'{name}' cannot name a conversation",
                           "use up to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


class ConversationsMixin(SQLHost):
    def _conversation_row(self, con: Any, conversation_id: str) -> Conversation:
        row = con.execute(f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                          [conversation_id]).fetchone()
        if row is None:
            raise NotFound(f"no conversation '{conversation_id}'", "see `memos conversations list`")
        return rows.conversation(row)

    def _name_free(self, con: Any, agent_id: str, name: str | None, but: str | None = None) -> None:
        if name is None:
            return
        check_name(name)
        taken = con.execute("SELECT id FROM conversations WHERE agent_id = ? AND name = ? AND id <> ?",
                            [agent_id, name, but or ""]).fetchone()
        if taken:
            raise AlreadyExists(f"the agent already has a conversation named '{name}'", "choose another name")

    def create_conversation(self, agent_id: str, *, name: str | None = None, summary: str | None = None,
                            model: str | None = None) -> Conversation:
        now = to_db(utcnow())
        with self._write() as con:
            agent = self._agent_row(con, agent_id)
            self._lock(con, f"conversations:{agent.id}")  # names stay unique among concurrent creators
            self._name_free(con, agent.id, name)
            conversation_id = ids.new_id("conv")
            con.execute(f"INSERT INTO conversations ({rows.CONVERSATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                        [conversation_id, agent.id, name, summary, model, now, now])
            return self._conversation_row(con, conversation_id)

    def get_conversation(self, conversation_id: str) -> Conversation:
        with self._read() as con:
            return self._conversation_row(con, conversation_id)

    def find_conversation(self, agent_id: str, name_or_id: str) -> Conversation:
        column = "id" if ids.looks_like("conv", name_or_id) else "name"
        with self._read() as con:
            row = con.execute(f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations "
                              f"WHERE agent_id = ? AND {column} = ?", [agent_id, name_or_id]).fetchone()
        if row is None:
            raise NotFound(f"the agent has no conversation '{name_or_id}'",
                           "see `memos conversations list`, or create it with `memos conversations create`")
        return rows.conversation(row)

    def list_conversations(self, agent_id: str | None = None, *, limit: int = 50, after: str | None = None,
                           order: Literal["asc", "desc"] = "desc",
                           order_by: Literal["created_at", "last_message_at"] = "created_at",
                           summary_search: str | None = None) -> list[Conversation]:
        key = SORT_KEYS[order_by]
        where, params = ["true"], list[Any]()
        if agent_id is not None:
            where.append("agent_id = ?")
            params.append(agent_id)
        if summary_search:
            where.append("summary ILIKE ?")
            params.append("%" + summary_search.replace("%", "\\%").replace("_", "\\_") + "%")
        with self._read() as con:
            direction = page_after(con, "conversations", key, after, order, where, params, what="conversation")
            found = con.execute(f"SELECT {rows.CONVERSATION_COLUMNS} FROM conversations WHERE {' AND '.join(where)} "
                                f"ORDER BY {key} {direction}, id {direction} LIMIT ?", [*params, limit]).fetchall()
        return [rows.conversation(r) for r in found]

    def update_conversation(self, conversation_id: str, *, name: str | None = None, summary: str | None = None,
                            model: str | None = None, touched: bool = False) -> Conversation:
        with self._write() as con:
            current = self._conversation_row(con, conversation_id)
            self._lock(con, f"conversations:{current.agent_id}")
            if name is not None and name != current.name:
                self._name_free(con, current.agent_id, name, but=current.id)
            now = utcnow()
            changed = replace(current, name=name if name is not None else current.name,
                              summary=summary if summary is not None else current.summary,
                              model=model if model is not None else current.model, updated_at=now,
                              last_message_at=now if touched else current.last_message_at)
            con.execute("UPDATE conversations SET name = ?, summary = ?, model = ?, updated_at = ?, last_message_at = ? "
                        "WHERE id = ?", [changed.name, changed.summary, changed.model, to_db(now),
                                         to_db(changed.last_message_at) if changed.last_message_at else None,
                                         current.id])
            return self._conversation_row(con, current.id)

    def delete_conversation(self, conversation_id: str) -> None:
        with self._write() as con:
            current = self._conversation_row(con, conversation_id)
            self._lock(con, f"conversations:{current.agent_id}")
            # A call still waiting in it can never be answered now.
            con.execute("DELETE FROM tool_calls WHERE status = 'pending' AND step_id IN (SELECT s.id FROM steps s "
                        "JOIN runs r ON r.id = s.run_id WHERE r.conversation_id = ?)", [current.id])
            con.execute("DELETE FROM messages WHERE conversation_id = ?", [current.id])
            con.execute("DELETE FROM system_messages WHERE conversation_id = ?", [current.id])
            con.execute("DELETE FROM conversations WHERE id = ?", [current.id])
            self._db.memo.clear()

    def keep_system_message(self, agent_id: str, conversation: str | None, content: str) -> None:
        # An unchanged prompt is not written again (most steps compile the same one).
        with self._write() as con:
            con.execute("INSERT INTO system_messages (agent_id, conversation_id, content, compiled_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (agent_id, conversation_id) DO UPDATE SET "
                        "content = excluded.content, compiled_at = excluded.compiled_at "
                        "WHERE system_messages.content <> excluded.content",
                        [agent_id, conversation or "", content, to_db(utcnow())])

    def kept_system_message(self, agent_id: str, conversation: str | None) -> str | None:
        with self._read() as con:
            row = con.execute("SELECT content FROM system_messages WHERE agent_id = ? AND conversation_id = ?",
                              [agent_id, conversation or ""]).fetchone()
        return str(row[0]) if row else None

    def fork_conversation(self, agent_id: str, source: str | None, *, name: str | None = None) -> Conversation:
        with self._read() as con:
            agent = self._agent_row(con, agent_id)
            if source is not None and self._conversation_row(con, source).agent_id != agent.id:
                raise NotFound(f"agent '{agent.name}' has no conversation '{source}'")
            where, params = ["agent_id = $agent", "in_context"], {"agent": agent.id}
            scope_to(source, where, params)
            found = [rows.message(r) for r in con.execute(
                f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} ORDER BY seq", params)
                .fetchall()]
        with self.transaction():
            forked = self.create_conversation(agent.id, name=name, summary=None, model=None)
            # Copies, in order and with their times: the fork's context goes its own way from here.
            self.append_messages(agent.id, [
                NewMessage(cast(Role, m.role), m.content, m.name, m.tool_calls, m.tool_call_id, m.step_id, m.run_id, True,
                           m.created_at, conversation_id=forked.id) for m in found])
        return forked
