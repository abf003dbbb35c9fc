"""Copying a DuckDB store into PostgreSQL (`memos db migrate-to`), verified before it commits.

Everything is copied in one PostgreSQL transaction: every table, row for row, ids and
seqs kept. Before committing, each table is read back from PostgreSQL inside that
same transaction and compared with what was read from DuckDB: row counts, and a
SHA-256 over the rows in key order with values in one canonical form (times as ISO
text, JSON re-serialised with sorted keys, embeddings as their float32 bytes). Any
difference, error or Ctrl-C rolls the transaction back, so the target is left as it
was: empty. A target that already holds agents is refused before anything is written.

Derived data is not copied but rebuilt by the target: DuckDB's text and vector index
files become PostgreSQL's generated tsvector, its BM25 statistics and its HNSW index.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from memos.errors import InvalidInput, MemosError, first_line
from memos.store.duckdb.store import DuckDBStore
from memos.store.postgres import vectors
from memos.store.postgres.passages import PASSAGE_COPY_COLUMNS, copy_passages
from memos.store.postgres.store import PostgresStore
from memos.store.sql import rows
from memos.store.sql.archives import ARCHIVE_COLUMNS
from memos.store.sql.evolutions import CANARY_COLUMNS, JSON_FIELDS
from memos.store.sql.evolutions import COLUMNS as EVOLUTION_COLUMNS
from memos.store.sql.folders import CHUNK_COLUMNS, FILE_COLUMNS, FOLDER_COLUMNS
from memos.store.sql.groups import GROUP_COLUMNS
from memos.store.sql.identities import IDENTITY_COLUMNS
from memos.store.sql.runs import RUN_COLUMNS, STEP_COLUMNS, TOOL_CALL_COLUMNS
from memos.store.sql.schedules import RUN_COLUMNS as SCHEDULED_RUN_COLUMNS
from memos.store.sql.schedules import SCHEDULE_COLUMNS

BATCH = 2000
# Memory for building the HNSW graph in one piece (100k MiniLM vectors take ~200 MB);
# PostgreSQL's default of 64 MB makes the build spill and slow down several times.
INDEX_BUILD_MEMORY = "1GB"


@dataclass(frozen=True)
class Table:
    name: str
    columns: str
    key: str  # the order rows are compared in
    json_columns: tuple[str, ...] = ()
    where: str = "true"
    float32_columns: tuple[str, ...] = ()  # float lists compared as float32 (PostgreSQL's real[] reads back in text)


# In dependency order. store_meta's store_id names a store and stays the target's own.
TABLES = (
    Table("store_meta", "key, value", "key", where="key <> 'store_id'"),
    Table("agents", rows.AGENT_COLUMNS, "id", ("tool_rules", "metadata", "tags", "response_format")),
    Table("blocks", "id, label, value, char_limit, description, read_only, is_template, version, created_at, "
                    "updated_at", "id"),
    Table("agent_blocks", "agent_id, block_id, created_at", "agent_id, block_id"),
    Table("block_history", rows.HISTORY_COLUMNS, "block_id, version"),
    Table("conversations", rows.CONVERSATION_COLUMNS, "id"),
    Table("messages", rows.MESSAGE_COLUMNS, "seq", ("tool_calls",)),
    Table("passages", PASSAGE_COPY_COLUMNS, "seq"),
    Table("tools", "id, name, description, json_schema, source_type, source_code, repo_commit, created_at, "
                   "updated_at, tags, return_char_limit, requires_approval", "id", ("json_schema", "tags")),
    Table("agent_tools", "agent_id, tool_id, created_at", "agent_id, tool_id"),
    Table("folders", FOLDER_COLUMNS, "id", ("metadata",)),
    Table("folder_files", FILE_COLUMNS, "id"),
    Table("file_chunks", CHUNK_COLUMNS, "file_id, chunk", float32_columns=("vector",)),
    Table("agent_folders", "agent_id, folder_id, created_at", "agent_id, folder_id"),
    Table("agent_files", "agent_id, file_id, start_line, end_line, opened_at", "agent_id, file_id"),
    Table("agent_groups", GROUP_COLUMNS, "id", ("agent_ids",)),
    Table("runs", RUN_COLUMNS, "id", ("request_config",)),
    Table("steps", STEP_COLUMNS, "id", ("feedback_tags",)),
    Table("tool_calls", TOOL_CALL_COLUMNS, "id", ("arguments",)),
    Table("evolutions", EVOLUTION_COLUMNS, "id", JSON_FIELDS),
    Table("canary_calls", CANARY_COLUMNS, "id"),
    Table("identities", IDENTITY_COLUMNS, "id", ("properties",)),
    Table("identity_members", "identity_id, kind, member_id, created_at", "identity_id, kind, member_id"),
    Table("scheduled_messages", SCHEDULE_COLUMNS, "id", ("messages", "options")),
    Table("scheduled_runs", SCHEDULED_RUN_COLUMNS, "schedule_id, due_at"),
    Table("archives", ARCHIVE_COLUMNS, "id", ("metadata",)),
    Table("agent_archives", "agent_id, archive_id, created_at", "agent_id, archive_id"),
    Table("system_messages", "agent_id, conversation_id, content, compiled_at", "agent_id, conversation_id"),
)


@dataclass(frozen=True)
class TableReport:
    table: str
    rows: int
    checksum: str


@dataclass(frozen=True)
class TransferReport:
    source: str
    target: str
    tables: list[TableReport]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "seconds": round(self.seconds, 2),
                "verified": True,
                "tables": {t.table: {"rows": t.rows, "sha256": t.checksum} for t in self.tables}}


class TransferFailed(MemosError):
    """The copy did not verify, or failed part way; the target was rolled back."""


def _canonical(value: Any, is_json: bool) -> Any:
    if value is None:
        return None
    if is_json:
        return json.dumps(json.loads(value) if isinstance(value, str) else value, sort_keys=True)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, np.ndarray):
        return np.asarray(value, dtype="<f4").tobytes().hex()
    if isinstance(value, (list, tuple)):
        return [_canonical(v, False) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


class _Digest:
    def __init__(self, table: Table) -> None:
        names = [c.strip() for c in table.columns.split(",")]
        self.json_flags = [name in table.json_columns for name in names]
        self.float32_flags = [name in table.float32_columns for name in names]
        self.sha = hashlib.sha256()
        self.count = 0

    def add(self, row: Sequence[Any]) -> None:
        canonical = [np.asarray(v, dtype="<f4").tobytes().hex() if f else _canonical(v, j)
                     for v, j, f in zip(row, self.json_flags, self.float32_flags)]
        self.sha.update(json.dumps(canonical, separators=(",", ":")).encode())
        self.sha.update(b"\n")
        self.count += 1

    def hexdigest(self) -> str:
        return self.sha.hexdigest()


def _duckdb_rows(con: Any, table: Table) -> Iterator[tuple[Any, ...]]:
    """Rows in key order, in batches; embeddings as float32 numpy rows."""
    names = [c.strip() for c in table.columns.split(",")]
    vector_at = names.index("embedding") if "embedding" in names else None
    result = con.execute(f"SELECT {table.columns} FROM {table.name} WHERE {table.where} ORDER BY {table.key}")
    while batch := result.fetchmany(BATCH):
        if vector_at is None:
            yield from batch
            continue
        for row in batch:
            yield (*row[:vector_at], np.asarray(row[vector_at], dtype=np.float32), *row[vector_at + 1:])


def _postgres_rows(raw: Any, table: Table) -> Iterator[tuple[Any, ...]]:
    from pgvector import Vector

    # Server-side, so a large table streams. Passages come in binary: their vectors load 40x
    # faster; the other tables stay in text, where JSON reads back as text as from DuckDB.
    with raw.cursor(name=f"memos_verify_{table.name}", binary=table.name == "passages") as cursor:
        cursor.itersize = BATCH
        cursor.execute(f"SELECT {table.columns} FROM {table.name} WHERE {table.where} ORDER BY {table.key}")
        for row in cursor:
            yield tuple(v.to_numpy() if isinstance(v, Vector) else v for v in row)


def _write_rows(target: PostgresStore, con: Any, table: Table, source: Iterator[tuple[Any, ...]],
                digest: _Digest) -> None:
    def hashed() -> Iterator[tuple[Any, ...]]:
        for row in source:
            digest.add(row)
            yield row

    if table.name == "passages":
        copy_passages(target._db.with_vectors(con), hashed())
    else:
        target._insert_many(con, table.name, table.columns, hashed())


def migrate_to_postgres(source: DuckDBStore, target: PostgresStore,
                        progress: Callable[[str], None] = lambda message: None) -> TransferReport:
    """Copy everything in ``source`` into the empty ``target`` and verify it; all or nothing."""
    import psycopg

    started = time.monotonic()
    with target._db.session(write=True) as con:  # one transaction: commits only if verified
        target._lock(con, "agent-names", "message-seq", "passage-seq", "tool-library")
        existing = con.execute("SELECT count(*) FROM agents").fetchone()[0]
        if existing:
            raise InvalidInput(f"the target {target.location} already holds {existing} agent(s)",
                               "migrate into an empty database: create a new one, or drop these agents")
        con.execute("DELETE FROM store_meta WHERE key <> 'store_id'")
        # Building the passage indexes once, after the copy, is several times faster than
        # growing them row by row; their definitions come from the target's own migrations.
        # (one HNSW index per width of vector: postgres/vectors.py)
        found = con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'passages' AND "
            "(indexname LIKE 'passages_embedding%' OR indexname = 'passages_tsv') ORDER BY indexname").fetchall()
        for name, _ in found:
            con.execute(f"DROP INDEX {name}")
        rebuilt = [definition for _, definition in found]
        raw = target._db.with_vectors(con)
        reports = []
        with source._db.session(write=False) as duck:
            for table in TABLES:
                sent = _Digest(table)
                try:
                    _write_rows(target, con, table, _duckdb_rows(duck, table), sent)
                except psycopg.Error as exc:
                    raise TransferFailed(f"copying {table.name} into PostgreSQL failed at row {sent.count}: "
                                         f"{first_line(exc)}",
                                         "nothing was kept in the target; fix that row in the source and retry") from None
                stored = _Digest(table)
                for row in _postgres_rows(raw, table):
                    stored.add(row)
                if (stored.count, stored.hexdigest()) != (sent.count, sent.hexdigest()):
                    raise TransferFailed(
                        f"{table.name} did not verify: {sent.count} rows sent, {stored.count} stored, "
                        f"checksums {sent.hexdigest()[:12]} and {stored.hexdigest()[:12]}",
                        "nothing was kept in the target; report this with `memos db info` of both")
                reports.append(TableReport(table.name, sent.count, sent.hexdigest()))
                progress(f"{table.name}: {sent.count} rows copied and verified")
        progress("building the passage indexes (HNSW and full text)")
        con.execute(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'")
        for definition in rebuilt:
            con.execute(definition)
        for (width,) in con.execute("SELECT DISTINCT vector_dims(embedding) FROM passages").fetchall():
            if width <= vectors.HALFVEC_INDEX_MAX:  # widths the target had no index for yet
                con.execute(vectors.index_definition(int(width)))
    with target._db.session(write=True) as con:
        con.execute("ANALYZE")  # fresh statistics, so the planner uses the new indexes
    return TransferReport(source.location, target.location, reports, time.monotonic() - started)
