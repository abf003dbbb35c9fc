"""Messages: ordered per agent, paged by cursor, searchable by words and dates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from memos.errors import NotFound
from memos.store import ids
from memos.store.base import ALL_CONVERSATIONS, ConversationScope, Message, MessageStats, NewMessage
from memos.store.sql import rows
from memos.store.sql.host import SQLHost
from memos.store.text import STOP_WORDS, bm25_rerank
from memos.store.timeutil import from_db, to_db, utcnow

RERANK_POOL = 200  # messages matching the most query words, reranked by BM25 (500 recalled no more)


def _like_pattern(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


SMALL_BATCH = 50
# What the remembered prompt pages and an agent's counts are read from (ConnectionMemo.read)
CONTEXT_TABLES = frozenset({"messages"})
COUNT_TABLES = frozenset({"messages", "passages"})


def scope_to(conversation: ConversationScope, where: list[str], params: dict[str, Any]) -> None:
    """Narrow a query of messages (or runs) to one conversation; None is the agent's own."""
    if conversation == ALL_CONVERSATIONS:
        return
    if conversation is None:
        where.append("conversation_id IS NULL")
    else:
        params["conversation"] = conversation
        where.append("conversation_id = $conversation")


class MessagesMixin(SQLHost):
    def append_messages(self, agent_id: str, messages: Sequence[NewMessage]) -> list[Message]:
        if not messages:
            return []
        with self._write() as con:
            # seq is global: writers of any agent take turns choosing it (so seq order is commit order).
            self._lock(con, "message-seq")
            # The agent's remembered prompt pages and counts, carried past the INSERT below.
            pages, counts = self._db.memo.kept(("context", agent_id)), self._db.memo.kept(("counts", agent_id))
            first = self._db.memo.next_message_seq(agent_id)  # nobody else can have written since (connection.py)
            if first is None:
                # One round trip for both: does the agent exist, and where do the new rows start.
                exists, first = con.execute(
                    "SELECT EXISTS (SELECT 1 FROM agents WHERE id = ?), "
                    "(SELECT coalesce(max(seq), 0) + 1 FROM messages)", [agent_id]).fetchone()
                if not exists:
                    self._agent_row(con, agent_id)  # raises the usual NotFound
            now = to_db(utcnow())
            new_ids = [m.id or ids.new_id("message") for m in messages]
            values = [
                (message_id, agent_id, first + i, m.role, m.content, m.name,
                 json.dumps(m.tool_calls) if m.tool_calls is not None else None, m.tool_call_id, m.step_id,
                 m.run_id, m.in_context, to_db(m.created_at) if m.created_at else now, m.conversation_id, m.otid)
                for i, (message_id, m) in enumerate(zip(new_ids, messages))]
            if len(values) <= SMALL_BATCH:
                # A few rows (an agent step): one plain INSERT is the cheapest round trip.
                placeholders = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(values))
                con.execute(f"INSERT INTO messages ({rows.MESSAGE_COLUMNS}) VALUES {placeholders}",
                            [v for row in values for v in row])
            else:
                self._insert_many(con, "messages", rows.MESSAGE_COLUMNS, values)
            self._db.memo.messages_appended(agent_id, first + len(values))
            # The records as stored, built here rather than read back (one query less per step).
            stored = [Message(id=message_id, agent_id=agent_id, seq=first + i, role=m.role, content=m.content,
                              name=m.name, tool_calls=m.tool_calls, tool_call_id=m.tool_call_id, step_id=m.step_id,
                              run_id=m.run_id, in_context=m.in_context,
                              created_at=from_db(to_db(m.created_at) if m.created_at else now),
                              conversation_id=m.conversation_id, otid=m.otid)
                      for i, (message_id, m) in enumerate(zip(new_ids, messages))]
            for key, page in pages.items():  # newest first, as list_messages remembered it
                _, _, scope, limit = key
                newest = [m for m in reversed(stored) if m.in_context and m.conversation_id == scope]
                self._db.memo.put(key, CONTEXT_TABLES, (*newest, *page)[:limit])
            for key, (message_count, passage_count) in counts.items():
                self._db.memo.put(key, COUNT_TABLES, (message_count + len(stored), passage_count))
        return stored

    def requeue_message(self, message_id: str, run_id: str) -> None:
        with self._write() as con:
            self._lock(con, "message-seq")  # as append_messages: seq order stays commit order
            seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM messages").fetchone()[0]
            con.execute("UPDATE messages SET seq = ?, run_id = ?, in_context = true WHERE id = ?",
                        [seq, run_id, message_id])
            self._db.memo.clear()  # its next seq is taken now

    def in_context_message_ids(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        if not agent_ids:
            return {}
        found: dict[str, list[str]] = {}
        marks = ", ".join("?" for _ in agent_ids)
        with self._read() as con:
            for agent_id, message_id in con.execute(
                    f"SELECT agent_id, id FROM messages WHERE agent_id IN ({marks}) AND in_context "
                    "AND conversation_id IS NULL ORDER BY seq", list(agent_ids)).fetchall():
                found.setdefault(agent_id, []).append(message_id)
        return found

    def message_by_otid(self, agent_id: str, otid: str) -> Message | None:
        with self._read() as con:
            row = con.execute(f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE agent_id = ? AND otid = ? "
                              "ORDER BY seq DESC LIMIT 1", [agent_id, otid]).fetchone()
        return rows.message(row) if row else None

    def _message_seq(self, con: Any, agent_id: str | None, message_id: str) -> int:
        row = (con.execute("SELECT seq FROM messages WHERE id = ?", [message_id]) if agent_id is None else
               con.execute("SELECT seq FROM messages WHERE id = ? AND agent_id = ?", [message_id, agent_id])).fetchone()
        if row is None:
            raise NotFound(f"no message '{message_id}'{' for this agent' if agent_id else ''}", "see `memos messages list`")
        return int(row[0])

    def get_message(self, message_id: str) -> Message:
        with self._read() as con:
            row = con.execute(f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE id = ?", [message_id]).fetchone()
        if row is None:
            raise NotFound(f"no message '{message_id}'", "see `memos messages list`")
        return rows.message(row)

    def list_messages(self, agent_id: str, *, before: str | None = None, after: str | None = None,
                      limit: int = 50, order: Literal["asc", "desc"] = "desc",
                      in_context: bool | None = None, conversation: ConversationScope = None) -> list[Message]:
        """A page of messages. Cursors follow Letta: ``after``/``before`` are relative to ``order``
        (with ``order="desc"``, ``after=X`` pages on to older messages than X)."""
        with self._read() as con:
            if not before and not after and order == "desc" and in_context is True and conversation != ALL_CONVERSATIONS:
                # A prompt's messages, read every step: remembered (ConnectionMemo), and carried
                # forward by append_messages rather than read again after each step's write.
                return list(self._db.memo.read(("context", agent_id, conversation, limit), CONTEXT_TABLES, lambda: tuple(
                    self._page(con, agent_id, None, None, limit, order, in_context, conversation))))
            return self._page(con, agent_id, before, after, limit, order, in_context, conversation)

    def list_all_messages(self, *, before: str | None = None, after: str | None = None, limit: int = 50,
                          order: Literal["asc", "desc"] = "desc",
                          conversation: ConversationScope = ALL_CONVERSATIONS) -> list[Message]:
        with self._read() as con:
            return self._page(con, None, before, after, limit, order, None, conversation)

    def _page(self, con: Any, agent_id: str | None, before: str | None, after: str | None, limit: int,
              order: Literal["asc", "desc"], in_context: bool | None, conversation: ConversationScope) -> list[Message]:
        """A page of one agent's messages (None: every agent's; seq orders them all)."""
        # Position in the requested order: seq for asc, -seq for desc.
        sign = 1 if order == "asc" else -1
        where, params = ([], {"limit": limit, "sign": sign}) if agent_id is None else (
            ["agent_id = $agent"], {"agent": agent_id, "limit": limit, "sign": sign})
        scope_to(conversation, where, params)
        if after:
            params["after"] = sign * self._message_seq(con, agent_id, after)
            where.append("$sign * seq > $after")
        if before:
            params["before"] = sign * self._message_seq(con, agent_id, before)
            where.append("$sign * seq < $before")
        if in_context is not None:
            params["ctx"] = in_context
            where.append("in_context = $ctx")
        # With only `before`, the page is the one just before the cursor.
        nearest_first = "DESC" if before and not after else "ASC"
        sql = (f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where) or 'true'} "
               f"ORDER BY $sign * seq {nearest_first} LIMIT $limit")
        found = [rows.message(r) for r in con.execute(sql, params).fetchall()]
        found.sort(key=lambda m: sign * m.seq)
        return found

    def run_messages(self, run_id: str, *, limit: int = 1000, after: str | None = None,
                     order: Literal["asc", "desc"] = "asc") -> list[Message]:
        return self.messages_where("run_id", run_id, limit=limit, after=after, order=order)

    def step_messages(self, step_id: str, *, limit: int = 100, after: str | None = None,
                      order: Literal["asc", "desc"] = "asc") -> list[Message]:
        self.get_step(step_id)  # 404 for an unknown step
        return self.messages_where("step_id", step_id, limit=limit, after=after, order=order)

    def messages_where(self, column: Literal["run_id", "step_id"], value: str, *, limit: int,
                       after: str | None, order: Literal["asc", "desc"]) -> list[Message]:
        """The messages one run or step stored, in order; ``after`` a message id of theirs."""
        sign = 1 if order == "asc" else -1
        where, params = [f"{column} = $owner"], {"owner": value, "limit": limit, "sign": sign}
        with self._read() as con:
            if after:
                row = con.execute(f"SELECT seq FROM messages WHERE id = ? AND {column} = ?", [after, value]).fetchone()
                if row is None:
                    raise NotFound(f"{value} has no message '{after}'", "page with an id from the previous page")
                params["after"] = sign * int(row[0])
                where.append("$sign * seq > $after")
            return [rows.message(r) for r in con.execute(
                f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(where)} "
                "ORDER BY $sign * seq LIMIT $limit", params).fetchall()]

    def search_messages(self, agent_id: str, query: str | None, *, roles: Sequence[str] = (),
                        start: datetime | None = None, end: datetime | None = None,
                        limit: int = 20, offset: int = 0) -> list[Message]:
        """Messages matching words of ``query``, best first by BM25 (newest first without a query).

        Messages have no text index (passages do): SQL picks the RERANK_POOL messages that match
        the most query words (newest first among equals), and they are ranked by BM25 over their
        stemmed terms, each word weighted by how rare it is in the agent's whole log (document
        frequencies from one counting pass). Before, the order was words matched, then newest:
        "what pet does the user have" ranked a message saying "user" twice over one about the dog."""
        filters: list[str] = []  # roles and dates
        params: dict[str, Any] = {"agent": agent_id}
        words: list[str] = []
        if query and query.strip():
            found = [w for w in dict.fromkeys(query.lower().split()) if w]
            meaningful = [w for w in found if w.strip(".,;:!?\"'()") not in STOP_WORDS] or found
            words = [w.strip(".,;:!?\"'()") or w for w in meaningful[:16]]
            for i, word in enumerate(words):
                params[f"w{i}"] = _like_pattern(word)
        if roles:
            params["roles"] = list(roles)
            filters.append("role IN (SELECT unnest($roles::VARCHAR[]))")
        if start:
            params["start"] = to_db(start)
            filters.append("created_at >= $start")
        if end:
            params["end"] = to_db(end)
            filters.append("created_at <= $end")
        if not words:
            params.update(limit=limit, offset=offset)
            sql = (f"SELECT {rows.MESSAGE_COLUMNS} FROM messages WHERE {' AND '.join(['agent_id = $agent', *filters])} "
                   f"ORDER BY seq DESC LIMIT $limit OFFSET $offset")
            with self._read() as con:
                return [rows.message(r) for r in con.execute(sql, params).fetchall()]
        params["pool"] = max(RERANK_POOL, offset + limit)
        hits = ", ".join(f"CAST(content ILIKE $w{i} ESCAPE '\\' AS INTEGER) AS h{i}" for i in range(len(words)))
        matched_sum = " + ".join(f"h{i}" for i in range(len(words)))
        # One pass of the words over the log: each message's matches, the document frequencies
        # of the words, and the pool of messages matching the most of them.
        sql = f"""
            WITH hits AS (SELECT seq, role, created_at, {hits} FROM messages WHERE agent_id = $agent),
            totals AS (SELECT count(*), {", ".join(f"sum(h{i})" for i in range(len(words)))} FROM hits),
            pool AS (SELECT seq FROM hits WHERE {" AND ".join([f"({matched_sum}) > 0", *filters])}
                     ORDER BY ({matched_sum}) DESC, seq DESC LIMIT $pool)
            SELECT {", ".join(f"m.{c.strip()}" for c in rows.MESSAGE_COLUMNS.split(","))}, totals.*
            FROM messages m JOIN pool ON pool.seq = m.seq, totals"""
        width = len(rows.MESSAGE_COLUMNS.split(","))
        with self._read() as con:
            result = con.execute(sql, params).fetchall()
        if not result:
            return []
        candidates = [rows.message(r[:width]) for r in result]
        totals = result[0][width:]
        ranked = bm25_rerank(candidates, words, int(totals[0]), [int(df) for df in totals[1:]])
        return ranked[offset:offset + limit]

    def count_in_context(self, agent_id: str, conversation: ConversationScope = None) -> int:
        where, params = ["agent_id = $agent", "in_context"], {"agent": agent_id}
        scope_to(conversation, where, params)
        with self._read() as con:
            return int(con.execute(f"SELECT count(*) FROM messages WHERE {' AND '.join(where)}", params).fetchone()[0])

    def set_in_context(self, agent_id: str, message_ids: Sequence[str], in_context: bool) -> None:
        if not message_ids:
            return
        with self._write() as con:
            con.execute("UPDATE messages SET in_context = $flag WHERE agent_id = $agent AND id IN (SELECT unnest($ids::VARCHAR[]))",
                        {"flag": in_context, "agent": agent_id, "ids": list(message_ids)})

    def clear_context(self, agent_id: str, conversation: str | None = None) -> int:
        where, params = ["agent_id = $agent", "in_context"], {"agent": agent_id}
        scope_to(conversation, where, params)
        with self._write() as con:
            self._agent_row(con, agent_id)
            count = con.execute(f"SELECT count(*) FROM messages WHERE {' AND '.join(where)}", params).fetchone()[0]
            con.execute(f"UPDATE messages SET in_context = false WHERE {' AND '.join(where)}", params)
            return int(count)

    def message_stats(self, agent_id: str) -> MessageStats:
        with self._read() as con:
            total, in_ctx, first, last = con.execute(
                "SELECT count(*), count(*) FILTER (WHERE in_context), min(created_at), max(created_at) "
                "FROM messages WHERE agent_id = ?", [agent_id]).fetchone()
            by_role = dict(con.execute(
                "SELECT role, count(*) FROM messages WHERE agent_id = ? GROUP BY role ORDER BY role",
                [agent_id]).fetchall())
        return MessageStats(total=total, in_context=in_ctx, by_role=by_role, first_at=from_db(first),
                            last_at=from_db(last))
