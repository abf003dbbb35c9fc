"""The DuckDB backend of `Store`: agents and memory blocks (messages and passages in mixins)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from memos.errors import AlreadyExists, NotFound, SchemaTooNew
from memos.store import ids
from memos.store.base import (
    Actor, Agent, AgentCounts, Block, BlockChange, BlockVersion, ChangeFn, ContextBlock, CoreMemory, NewAgent,
    NewBlock, Store,
)
from memos.store.duckdb import rows
from memos.store.duckdb.connection import Connections
from memos.store.duckdb.evolutions import EvolutionsMixin
from memos.store.duckdb.messages import MessagesMixin
from memos.store.duckdb.passages import PassagesMixin
from memos.store.duckdb.runs import RunsMixin
from memos.store.duckdb.tools import ToolsMixin
from memos.store.duckdb.vector_index import VectorIndexes
from memos.store.migrations import migrations_for
from memos.store.timeutil import from_db, to_db, utcnow

_AGENT_FIELDS = {"name", "description", "system", "model", "embedding_model", "context_window",
                 "tool_rules", "metadata"}


class DuckDBStore(MessagesMixin, PassagesMixin, RunsMixin, ToolsMixin, EvolutionsMixin, Store):
    dialect = "duckdb"

    def __init__(self, path: Path, *, lock_timeout: float | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Connections(path, timeout=lock_timeout)
        self._migrate()
        with self._db.session(write=False) as con:
            store_id = con.execute("SELECT value FROM store_meta WHERE key = 'store_id'").fetchone()[0]
        self._vectors = VectorIndexes(path.with_name(path.name + ".vectors"), store_id)

    # -- lifecycle -------------------------------------------------------------
    def _applied(self, con: Any) -> list[str]:
        has_table = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        ).fetchone()[0]
        if not has_table:
            return []
        return [r[0] for r in con.execute("SELECT id FROM schema_migrations ORDER BY id").fetchall()]

    def _check_known(self, applied: list[str], known: list[str]) -> None:
        unknown = sorted(set(applied) - set(known))
        if unknown:
            raise SchemaTooNew(
                f"the database {self.path} was written by a newer memos (schema {unknown[-1]}; "
                f"this memos knows up to {known[-1]})",
                "upgrade memos; the database was left untouched",
            )

    def _migrate(self, *, upto: str | None = None) -> None:
        """Apply pending migrations. Reads first, so a current or too-new file is never written."""
        migrations = migrations_for(self.dialect)
        if upto is not None:
            migrations = [m for m in migrations if m.id <= upto]
        known = [m.id for m in migrations_for(self.dialect)]
        if self.path.exists():
            with self._db.session(write=False) as con:
                applied = self._applied(con)
            self._check_known(applied, known)
            if not [m for m in migrations if m.id not in applied]:
                return
        with self._db.session(write=True) as con:
            con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (id VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)")
        for migration in migrations:
            with self._db.session(write=True) as con:  # one transaction per migration
                applied = self._applied(con)
                self._check_known(applied, known)
                if migration.id in applied:
                    continue
                migration.apply(con)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [migration.id, to_db(utcnow())])
        # Schema changes go into the database file now, never stay in the WAL: DuckDB 1.5.5
        # fails to replay DDL from a WAL left by a killed process (tests/integration).
        self._db.checkpoint()

    def transaction(self):  # type: ignore[override]
        return self._db.session(write=True)

    @contextmanager
    def _read(self) -> Iterator[Any]:
        with self._db.session(write=False) as con:
            yield con

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._db.session(write=True) as con:
            yield con

    def schema_version(self) -> list[str]:
        with self._read() as con:
            return self._applied(con)

    def close(self) -> None:
        self._db.close()

    def tune_for_long_running(self) -> None:
        """DuckDB tries `import pandas` twice per bound parameter; without pandas installed each
        failed import rescans sys.path (~9 ms per agent step). Recording its absence in
        sys.modules makes those imports fail at once. pyarrow reads that entry directly, so it
        checks for pandas first and caches the answer."""
        import importlib.util
        import sys

        if "pandas" in sys.modules or importlib.util.find_spec("pandas") is not None:
            return
        import pyarrow.lib

        if not pyarrow.lib._pandas_api.have_pandas:
            sys.modules["pandas"] = None  # type: ignore[assignment]

    # -- agents ----------------------------------------------------------------
    def _agent_row(self, con: Any, id_or_name: str) -> Agent:
        column = "id" if ids.looks_like("agent", id_or_name) else "name"
        row = con.execute(f"SELECT {rows.AGENT_COLUMNS} FROM agents WHERE {column} = ?", [id_or_name]).fetchone()
        if row is None:
            raise NotFound(f"no agent named '{id_or_name}'", "see `memos agents list`")
        return rows.agent(row)

    def _check_name_free(self, con: Any, name: str) -> None:
        if con.execute("SELECT 1 FROM agents WHERE name = ?", [name]).fetchone():
            raise AlreadyExists(f"an agent named '{name}' already exists", "pick another name")

    def create_agent(self, agent: NewAgent, blocks: Sequence[NewBlock], actor: Actor = "user") -> Agent:
        now = to_db(utcnow())
        agent_id = ids.new_id("agent")
        with self._write() as con:
            self._check_name_free(con, agent.name)
            con.execute(
                "INSERT INTO agents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [agent_id, agent.name, agent.description, agent.system, agent.model, agent.embedding_model,
                 agent.context_window, json.dumps(agent.tool_rules), json.dumps(agent.metadata), now, now],
            )
            for new_block in blocks:
                self.create_block(new_block, actor=actor, reason="created with the agent", agent_id=agent_id)
            return self._agent_row(con, agent_id)

    def get_agent(self, id_or_name: str) -> Agent:
        with self._read() as con:
            return self._agent_row(con, id_or_name)

    def list_agents(self) -> list[Agent]:
        with self._read() as con:
            return [rows.agent(r) for r in con.execute(f"SELECT {rows.AGENT_COLUMNS} FROM agents ORDER BY name").fetchall()]

    def update_agent(self, agent_id: str, **fields: Any) -> Agent:
        unknown = set(fields) - _AGENT_FIELDS
        if unknown:
            raise ValueError(f"cannot update agent fields {sorted(unknown)}")
        with self._write() as con:
            current = self._agent_row(con, agent_id)
            if "name" in fields and fields["name"] != current.name:
                self._check_name_free(con, fields["name"])
            for key in ("tool_rules", "metadata"):
                if key in fields:
                    fields[key] = json.dumps(fields[key])
            if fields:
                assignments = ", ".join(f"{key} = ?" for key in fields)
                con.execute(f"UPDATE agents SET {assignments}, updated_at = ? WHERE id = ?",
                            [*fields.values(), to_db(utcnow()), current.id])
            return self._agent_row(con, current.id)

    def delete_agent(self, agent_id: str) -> None:
        with self._write() as con:
            agent = self._agent_row(con, agent_id)
            orphans = [r[0] for r in con.execute(
                "SELECT block_id FROM agent_blocks WHERE agent_id = ? AND block_id NOT IN "
                "(SELECT block_id FROM agent_blocks WHERE agent_id <> ?)", [agent.id, agent.id]).fetchall()]
            con.execute("DELETE FROM tools WHERE id IN (SELECT tool_id FROM agent_tools WHERE agent_id = ?) AND id NOT IN "
                        "(SELECT tool_id FROM agent_tools WHERE agent_id <> ?)", [agent.id, agent.id])
            for table in ("messages", "passage_terms", "passages", "agent_blocks", "agent_tools",
                          "tool_calls", "steps", "runs", "evolutions"):
                con.execute(f"DELETE FROM {table} WHERE agent_id = ?", [agent.id])
            for block_id in orphans:
                con.execute("DELETE FROM block_history WHERE block_id = ?", [block_id])
                con.execute("DELETE FROM blocks WHERE id = ?", [block_id])
            con.execute("DELETE FROM agents WHERE id = ?", [agent.id])
            self._db.memo.clear()  # it may remember this agent as existing
            self._db.after_commit(lambda: self._vectors.drop(agent.id))

    def core_memory(self, agent_id: str) -> CoreMemory:
        # Two statements in one session: a single query joining counts to blocks measured no
        # faster, and leaving out the sharing owners (list_agent_blocks) saves a millisecond a step.
        with self._read() as con:
            blocks = tuple(ContextBlock(r[0], r[1], r[2], r[3], r[4], from_db(r[5])) for r in con.execute(
                "SELECT b.label, b.description, b.value, b.char_limit, b.read_only, b.updated_at FROM agent_blocks x "
                "JOIN blocks b ON b.id = x.block_id WHERE x.agent_id = ? ORDER BY x.created_at, b.label",
                [agent_id]).fetchall())
            messages, passages = con.execute(
                "SELECT (SELECT count(*) FROM messages WHERE agent_id = $a), "
                "(SELECT count(*) FROM passages WHERE agent_id = $a)", {"a": agent_id}).fetchone()
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
                if self._label_taken(con, agent_id, block.label):
                    raise AlreadyExists(f"the agent already has a block labelled '{block.label}'",
                                        "pick another label or edit the existing block")
            con.execute("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                        [block_id, block.label, block.value, block.limit, block.description, block.read_only,
                         block.is_template, now, now])
            con.execute(f"INSERT INTO block_history ({rows.HISTORY_COLUMNS}) VALUES (?, 1, NULL, ?, ?, ?, NULL, ?)",
                        [block_id, block.value, actor, reason, now])
            if agent_id is not None:
                con.execute("INSERT INTO agent_blocks VALUES (?, ?, ?)", [agent_id, block_id, now])
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
                    "JOIN agent_blocks x ON x.block_id = b.id WHERE list_contains($ids, x.agent_id) "
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
            block = self._block_row(con, block_id)
            if agent_id in block.agent_ids:
                return block
            if self._label_taken(con, agent_id, block.label):
                raise AlreadyExists(f"the agent already has a block labelled '{block.label}'",
                                    "detach it first with `memos memory detach`")
            con.execute("INSERT INTO agent_blocks VALUES (?, ?, ?)", [agent_id, block_id, to_db(utcnow())])
            return self._block_row(con, block_id)

    def detach_block(self, agent_id: str, block_id: str) -> None:
        with self._write() as con:
            con.execute("DELETE FROM agent_blocks WHERE agent_id = ? AND block_id = ?", [agent_id, block_id])

    def modify_block(self, block_id: str, change: ChangeFn, *, actor: Actor, reason: str,
                     restored_from: int | None = None) -> tuple[Block, Block]:
        with self._write() as con:
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

    def delete_block(self, block_id: str) -> None:
        with self._write() as con:
            self._block_row(con, block_id)
            for sql in ("DELETE FROM agent_blocks WHERE block_id = ?", "DELETE FROM block_history WHERE block_id = ?",
                        "DELETE FROM blocks WHERE id = ?"):
                con.execute(sql, [block_id])

    def block_history(self, block_id: str) -> list[BlockVersion]:
        with self._read() as con:
            self._block_row(con, block_id)
            return [rows.history(r) for r in con.execute(
                f"SELECT {rows.HISTORY_COLUMNS} FROM block_history WHERE block_id = ? ORDER BY version",
                [block_id]).fetchall()]

