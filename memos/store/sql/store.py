"""What both SQL backends share: migrations, agents and memory blocks (messages, runs, tools and
evolutions in mixins beside this module).

The SQL here is written once, in DuckDB's parameter style (``?`` and ``$name``); the PostgreSQL
connection translates it. A backend supplies its connection (``_db``), its passages mixin, and
the few hooks below where the two engines differ: how concurrent writers are kept apart
(`_lock`), how many rows go in at once (`_insert_many`), and what else an agent's deletion
removes (`_delete_agent_extras`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from memos.errors import AlreadyExists, NotFound, SchemaInconsistent, SchemaTooNew
from memos.store import ids
from memos.store.base import (
    Actor,
    Agent,
    AgentCounts,
    Block,
    BlockChange,
    BlockVersion,
    ChangeFn,
    ContextBlock,
    CoreMemory,
    Finding,
    NewAgent,
    NewBlock,
)
from memos.store.migrations import migrations_for
from memos.store.sql import rows
from memos.store.sql.archives import ArchivesMixin
from memos.store.sql.cluster import ClusterMixin
from memos.store.sql.conversations import ConversationsMixin
from memos.store.sql.evolutions import EvolutionsMixin
from memos.store.sql.folders import FoldersMixin
from memos.store.sql.groups import GroupsMixin
from memos.store.sql.host import SQLHost
from memos.store.sql.identities import IdentitiesMixin
from memos.store.sql.messages import COUNT_TABLES, MessagesMixin
from memos.store.sql.reembed import ReembedMixin
from memos.store.sql.runs import RunsMixin
from memos.store.sql.schedules import SchedulesMixin
from memos.store.sql.tools import ToolsMixin
from memos.store.timeutil import from_db, to_db, utcnow

# What each remembered read of a turn is read from (ConnectionMemo.read)
_BLOCK_TABLES = frozenset({"blocks", "agent_blocks"})
_SCHEMA_TABLES = frozenset({"schema_migrations"})

_AGENT_FIELDS = {"name", "description", "system", "model", "embedding_model", "context_window", "max_tokens",
                 "tool_rules", "metadata", "tags", "response_format"}


class SQLStore(MessagesMixin, ConversationsMixin, FoldersMixin, GroupsMixin, IdentitiesMixin, SchedulesMixin, ArchivesMixin, RunsMixin, ToolsMixin, ClusterMixin,
               EvolutionsMixin, ReembedMixin, SQLHost):
    # -- what each backend supplies (and SQLHost's _lock and _insert_many) --------
    def _database_exists(self) -> bool:
        return True

    def _after_migrations(self) -> None:
        """Called once migrations have been applied in this process."""

    # -- lifecycle -------------------------------------------------------------
    def _applied(self, con: Any) -> list[str]:
        has_table = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchone()[0]
        if not has_table:
            return []
        return [r[0] for r in con.execute("SELECT id FROM schema_migrations ORDER BY id").fetchall()]

    def _check_consistent(self, con: Any, applied: list[str], known: list[str]) -> None:
        """Applied migrations are always a prefix of the known ones, and tables never stand without
        their record: anything else means schema_migrations was edited, and migrating again would
        fail half-way (or worse)."""
        missing = [m for m in known[:len(applied)] if m not in applied]
        exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'agents'").fetchone()[0]
        if missing or (not applied and exists):
            gap = missing[0] if missing else known[0]
            raise SchemaInconsistent(
                f"the schema table of {self.location} is inconsistent: migration {gap} is not recorded "
                "but its tables exist", "restore the database from a backup, or re-insert the missing "
                "schema_migrations row; memos changed nothing")

    def _check_known(self, applied: list[str], known: list[str]) -> None:
        unknown = sorted(set(applied) - set(known))
        if unknown:
            raise SchemaTooNew(
                f"the database {self.location} was written by a newer memos (schema {unknown[-1]}; "
                f"this memos knows up to {known[-1]})",
                "upgrade memos; the database was left untouched",
            )

    def _migrate(self, *, upto: str | None = None) -> None:
        """Apply pending migrations. Reads first, so a current or too-new file is never written."""
        migrations = migrations_for(self.dialect)
        if upto is not None:
            migrations = [m for m in migrations if m.id <= upto]
        known = [m.id for m in migrations_for(self.dialect)]
        if self._database_exists():
            with self._db.session(write=False) as con:
                applied = self._applied(con)
                self._check_known(applied, known)
                self._check_consistent(con, applied, known)
            if not [m for m in migrations if m.id not in applied]:
                return
        with self._db.session(write=True) as con:
            self._lock(con, "migrations")
            con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (id VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
        for migration in migrations:
            with self._db.session(write=True) as con:  # one transaction per migration
                self._lock(con, "migrations")  # another process may be migrating the same database
                applied = self._applied(con)
                self._check_known(applied, known)
                if migration.id in applied:
                    continue
                migration.apply(con)
                con.execute("INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)", [migration.id, to_db(utcnow())])
        self._after_migrations()

    def transaction(self) -> AbstractContextManager[Any]:
        return self._db.session(write=True)

    def schema_version(self) -> list[str]:
        with self._read() as con:  # asked by every health check: remembered (a migration forgets it)
            return list(self._db.memo.read(("schema",), _SCHEMA_TABLES, lambda: tuple(self._applied(con))))

    def close(self) -> None:
        self._db.close()

    # -- agents ----------------------------------------------------------------
    def _check_name_free(self, con: Any, name: str) -> None:
        if con.execute("SELECT 1 FROM agents WHERE name = ?", [name]).fetchone():
            raise AlreadyExists(f"an agent named '{name}' already exists", "pick another name")

    def create_agent(self, agent: NewAgent, blocks: Sequence[NewBlock], actor: Actor = "user",
                     unique_name: bool = True) -> Agent:
        now = to_db(utcnow())
        agent_id = ids.new_id("agent")
        with self._write() as con:
            self._lock(con, "agent-names")
            if unique_name:
                self._check_name_free(con, agent.name)
            con.execute(
                "INSERT INTO agents (id, name, description, system, model, embedding_model, context_window, tool_rules, "
                "metadata, created_at, updated_at, tags, max_tokens, response_format) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [agent_id, agent.name, agent.description, agent.system, agent.model, agent.embedding_model,
                 agent.context_window, json.dumps(agent.tool_rules), json.dumps(agent.metadata), now, now,
                 json.dumps(agent.tags), agent.max_tokens,
                 json.dumps(agent.response_format) if agent.response_format is not None else None],
            )
            for new_block in blocks:
                self.create_block(new_block, actor=actor, reason="created with the agent", agent_id=agent_id)
            return self._agent_row(con, agent_id)

    def get_agent(self, id_or_name: str) -> Agent:
        with self._read() as con:
            return self._remembered_agent(con, id_or_name)

    def list_agents(self) -> list[Agent]:
        with self._read() as con:
            return [rows.agent(r) for r in con.execute(f"SELECT {rows.AGENT_COLUMNS} FROM agents ORDER BY name").fetchall()]

    def update_agent(self, agent_id: str, unique_name: bool = True, **fields: Any) -> Agent:
        unknown = set(fields) - _AGENT_FIELDS
        if unknown:
            raise ValueError(f"cannot update agent fields {sorted(unknown)}")
        with self._write() as con:
            if "name" in fields:
                self._lock(con, "agent-names")
            current = self._agent_row(con, agent_id)
            self._lock(con, current.id)
            if unique_name and "name" in fields and fields["name"] != current.name:
                self._check_name_free(con, fields["name"])
            for key in ("tool_rules", "metadata", "tags", "response_format"):
                if key in fields and fields[key] is not None:
                    fields[key] = json.dumps(fields[key])
            if fields:
                assignments = ", ".join(f"{key} = ?" for key in fields)
                con.execute(f"UPDATE agents SET {assignments}, updated_at = ? WHERE id = ?",
                            [*fields.values(), to_db(utcnow()), current.id])
            return self._agent_row(con, current.id)

    def delete_agent(self, agent_id: str) -> None:
        with self._write() as con:
            agent = self._agent_row(con, agent_id)
            self._lock(con, agent.id)
            orphans = [r[0] for r in con.execute(
                "SELECT block_id FROM agent_blocks WHERE agent_id = ? AND block_id NOT IN "
                "(SELECT block_id FROM agent_blocks WHERE agent_id <> ?)", [agent.id, agent.id]).fetchall()]
            con.execute("DELETE FROM tools WHERE id IN (SELECT tool_id FROM agent_tools WHERE agent_id = ?) AND id NOT IN "
                        "(SELECT tool_id FROM agent_tools WHERE agent_id <> ?)", [agent.id, agent.id])
            self._delete_agent_extras(con, agent.id)
            for table in ("messages", "conversations", "passages", "agent_blocks", "agent_tools", "tool_calls",
                          "steps", "runs", "evolutions", "canary_calls", "agent_folders", "agent_files",
                          "tool_code_packs", "tool_code_refs", "reembed_vectors", "scheduled_messages", "agent_archives",
                          "scheduled_runs", "system_messages"):
                con.execute(f"DELETE FROM {table} WHERE agent_id = ?", [agent.id])
            con.execute("DELETE FROM identity_members WHERE kind = 'agent' AND member_id = ?", [agent.id])
            for block_id in orphans:
                con.execute("DELETE FROM identity_members WHERE kind = 'block' AND member_id = ?", [block_id])
                con.execute("DELETE FROM block_history WHERE block_id = ?", [block_id])
                con.execute("DELETE FROM blocks WHERE id = ?", [block_id])
            con.execute("DELETE FROM agents WHERE id = ?", [agent.id])
            self._db.memo.clear()  # it may remember this agent as existing

    def core_memory(self, agent_id: str) -> CoreMemory:
        # Two statements in one session: a single query joining counts to blocks measured no
        # faster, and leaving out the sharing owners (list_agent_blocks) saves a millisecond a step.
        with self._read() as con:
            blocks = self._db.memo.read(("blocks", agent_id), _BLOCK_TABLES, lambda: tuple(
                ContextBlock(r[0], r[1], r[2], r[3], r[4], from_db(r[5]), r[6]) for r in con.execute(
                    "SELECT b.label, b.description, b.value, b.char_limit, b.read_only, b.updated_at, b.version "
                    "FROM agent_blocks x "
                    "JOIN blocks b ON b.id = x.block_id WHERE x.agent_id = ? ORDER BY x.created_at, b.label",
                    [agent_id]).fetchall()))
            # (remembered, and counted on by append_messages)
            messages, passages = self._db.memo.read(("counts", agent_id), COUNT_TABLES, lambda: con.execute(
                "SELECT (SELECT count(*) FROM messages WHERE agent_id = $a), "
                "(SELECT count(*) FROM passages WHERE agent_id = $a)", {"a": agent_id}).fetchone())
        return CoreMemory(blocks, int(messages), int(passages))

    def agent_counts(self, agent_id: str) -> AgentCounts:
        with self._read() as con:
            row = con.execute(
                "SELECT (SELECT count(*) FROM messages WHERE agent_id = $a), "
                "(SELECT count(*) FROM passages WHERE agent_id = $a), "
                "(SELECT count(*) FROM agent_blocks WHERE agent_id = $a), "
                "greatest((SELECT max(created_at) FROM messages WHERE agent_id = $a), "
                "(SELECT max(created_at) FROM passages WHERE agent_id = $a), "
                "(SELECT updated_at FROM agents WHERE id = $a))", {"a": agent_id}).fetchone()
        return AgentCounts(messages=row[0], passages=row[1], blocks=row[2], last_activity=from_db(row[3]))

    # -- doctor ----------------------------------------------------------------
    def check_agent(self, agent_id: str, *, repair: bool) -> list[Finding]:
        with self._read() as con:
            duplicates = con.execute(
                "SELECT count(*) FROM (SELECT seq FROM messages WHERE agent_id = ? GROUP BY seq HAVING count(*) > 1)",
                [agent_id]).fetchone()[0]
            # An agent's edit is a built-in tool call committed with its step: per tool, never more
            # agent edits of the agent's blocks than successful calls of that tool.
            unexplained = con.execute(
                "SELECT h.reason, count(*) - coalesce(max(c.calls), 0) FROM block_history h "
                "JOIN agent_blocks x ON x.block_id = h.block_id AND x.agent_id = $a "
                "LEFT JOIN (SELECT name, count(*) AS calls FROM tool_calls WHERE agent_id = $a AND status = 'success' "
                "GROUP BY name) c ON c.name = h.reason "
                "WHERE h.actor = 'agent' GROUP BY h.reason HAVING count(*) > coalesce(max(c.calls), 0)",
                {"a": agent_id}).fetchall()
        findings = [
            Finding("messages", "problem" if duplicates else "ok",
                    f"{duplicates} message positions are taken twice" if duplicates else ""),
            Finding("block edits", "problem" if unexplained else "ok",
                    "; ".join(f"{count} {reason} edit(s) without a recorded tool call" for reason, count in unexplained)),
        ]
        return findings + self._check_indexes(agent_id, repair=repair)

    def _check_indexes(self, agent_id: str, *, repair: bool) -> list[Finding]:
        """Backends with indexes beside the rows check them here."""
        return []

    # -- blocks ----------------------------------------------------------------
    def _block_row(self, con: Any, block_id: str) -> Block:
        row = con.execute(f"SELECT {rows.BLOCK_COLUMNS} FROM blocks b {rows.BLOCK_OWNERS} WHERE b.id = ?", [block_id]).fetchone()
        if row is None:
            raise NotFound(f"no block with id '{block_id}'", "see `memos memory show`")
        return rows.block(row)

    def _label_taken(self, con: Any, agent_id: str, label: str) -> bool:
        return con.execute(
            "SELECT 1 FROM agent_blocks ab JOIN blocks b ON b.id = ab.block_id WHERE ab.agent_id = ? AND b.label = ?",
            [agent_id, label]).fetchone() is not None

    def create_block(self, block: NewBlock, *, actor: Actor, reason: str, agent_id: str | None = None) -> Block:
        now = to_db(utcnow())
        block_id = ids.new_id("block")
        with self._write() as con:
            if agent_id is not None:
                self._agent_row(con, agent_id)
                self._lock(con, agent_id)  # labels are unique per agent
                if self._label_taken(con, agent_id, block.label):
                    raise AlreadyExists(f"the agent already has a block labelled '{block.label}'",
                                        "pick another label or edit the existing block")
            con.execute("INSERT INTO blocks (id, label, value, char_limit, description, read_only, is_template, version, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                        [block_id, block.label, block.value, block.limit, block.description, block.read_only,
                         block.is_template, now, now])
            con.execute(f"INSERT INTO block_history ({rows.HISTORY_COLUMNS}) VALUES (?, 1, NULL, ?, ?, ?, NULL, ?)",
                        [block_id, block.value, actor, reason, now])
            if agent_id is not None:
                con.execute("INSERT INTO agent_blocks (agent_id, block_id, created_at) VALUES (?, ?, ?)", [agent_id, block_id, now])
            return self._block_row(con, block_id)

    def get_block(self, block_id: str) -> Block:
        with self._read() as con:
            return self._block_row(con, block_id)

    def get_agent_block(self, agent_id: str, label: str) -> Block:
        with self._read() as con:
            row = con.execute(
                f"SELECT {rows.BLOCK_COLUMNS} FROM blocks b {rows.BLOCK_OWNERS} JOIN agent_blocks x ON x.block_id = b.id "
                "WHERE x.agent_id = ? AND b.label = ?", [agent_id, label]).fetchone()
            if row is None:
                labels = [r[0] for r in con.execute(
                    "SELECT b.label FROM blocks b JOIN agent_blocks x ON x.block_id = b.id WHERE x.agent_id = ? "
                    "ORDER BY x.created_at", [agent_id]).fetchall()]
                raise NotFound(f"no block labelled '{label}'",
                               f"this agent's blocks: {', '.join(labels) or 'none'}")
            return rows.block(row)

    def list_agent_blocks(self, agent_id: str) -> list[Block]:
        with self._read() as con:
            return [rows.block(r) for r in con.execute(
                f"SELECT {rows.BLOCK_COLUMNS} FROM blocks b {rows.BLOCK_OWNERS} JOIN agent_blocks x ON x.block_id = b.id "
                "WHERE x.agent_id = ? ORDER BY x.created_at, b.label", [agent_id]).fetchall()]

    def blocks_by_agent(self, agent_ids: Sequence[str]) -> dict[str, list[Block]]:
        found: dict[str, list[Block]] = {agent_id: [] for agent_id in agent_ids}
        if not found:
            return found
        with self._read() as con:
            for row in con.execute(
                    f"SELECT x.agent_id, {rows.BLOCK_COLUMNS} FROM blocks b {rows.BLOCK_OWNERS} "
                    "JOIN agent_blocks x ON x.block_id = b.id WHERE x.agent_id IN (SELECT unnest($ids::VARCHAR[])) "
                    "ORDER BY x.agent_id, x.created_at, b.label", {"ids": list(found)}).fetchall():
                found[row[0]].append(rows.block(row[1:]))
        return found

    def list_blocks(self) -> list[Block]:
        with self._read() as con:
            return [rows.block(r) for r in con.execute(
                f"SELECT {rows.BLOCK_COLUMNS} FROM blocks b {rows.BLOCK_OWNERS} ORDER BY b.label, b.created_at").fetchall()]

    def attach_block(self, agent_id: str, block_id: str) -> Block:
        with self._write() as con:
            self._agent_row(con, agent_id)
            self._lock(con, agent_id)
            block = self._block_row(con, block_id)
            if agent_id in block.agent_ids:
                return block
            if self._label_taken(con, agent_id, block.label):
                raise AlreadyExists(f"the agent already has a block labelled '{block.label}'",
                                    "detach it first with `memos memory detach`")
            con.execute("INSERT INTO agent_blocks (agent_id, block_id, created_at) VALUES (?, ?, ?)", [agent_id, block_id, to_db(utcnow())])
            return self._block_row(con, block_id)

    def detach_block(self, agent_id: str, block_id: str) -> None:
        with self._write() as con:
            con.execute("DELETE FROM agent_blocks WHERE agent_id = ? AND block_id = ?", [agent_id, block_id])

    def modify_block(self, block_id: str, change: ChangeFn, *, actor: Actor, reason: str,
                     restored_from: int | None = None) -> tuple[Block, Block]:
        with self._write() as con:
            self._lock(con, block_id)  # read, change and write with no other edit in between
            old = self._block_row(con, block_id)
            new: BlockChange = change(old)
            if (new.value, new.limit, new.description, new.read_only) == (
                    old.value, old.limit, old.description, old.read_only):
                return old, old
            now = to_db(utcnow())
            version = old.version + 1 if new.value != old.value else old.version
            con.execute(
                "UPDATE blocks SET value = ?, char_limit = ?, description = ?, read_only = ?, version = ?, "
                "updated_at = ? WHERE id = ?",
                [new.value, new.limit, new.description, new.read_only, version, now, block_id])
            if new.value != old.value:
                con.execute(f"INSERT INTO block_history ({rows.HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [block_id, version, old.value, new.value, actor, reason, restored_from, now])
            return old, self._block_row(con, block_id)

    def relabel_block(self, block_id: str, label: str) -> Block:
        with self._write() as con:
            block = self._block_row(con, block_id)
            for agent_id in sorted(block.agent_ids):
                self._lock(con, agent_id)  # labels are unique per agent
            for agent_id in block.agent_ids:
                clash = con.execute(
                    "SELECT b.id FROM blocks b JOIN agent_blocks ab ON ab.block_id = b.id "
                    "WHERE ab.agent_id = ? AND b.label = ? AND b.id <> ?", [agent_id, label, block_id]).fetchone()
                if clash is not None:
                    name = self._agent_row(con, agent_id).name
                    raise AlreadyExists(f"agent '{name}' already has a block labelled '{label}'",
                                        "choose another label")
            con.execute("UPDATE blocks SET label = ?, updated_at = ? WHERE id = ?", [label, to_db(utcnow()), block_id])
            return self._block_row(con, block_id)

    def delete_block(self, block_id: str) -> None:
        with self._write() as con:
            self._block_row(con, block_id)
            for sql in ("DELETE FROM agent_blocks WHERE block_id = ?", "DELETE FROM block_history WHERE block_id = ?",
                        "DELETE FROM identity_members WHERE kind = 'block' AND member_id = ?",
                        "DELETE FROM blocks WHERE id = ?"):
                con.execute(sql, [block_id])

    def block_history(self, block_id: str) -> list[BlockVersion]:
        with self._read() as con:
            self._block_row(con, block_id)
            return [rows.history(r) for r in con.execute(
                f"SELECT {rows.HISTORY_COLUMNS} FROM block_history WHERE block_id = ? ORDER BY version",
                [block_id]).fetchall()]

