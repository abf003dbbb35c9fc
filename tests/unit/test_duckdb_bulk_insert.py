"""Bulk inserts into DuckDB without pyarrow: every value lands in its row, vectors included."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import duckdb
import numpy as np
import pytest

from memos.store.duckdb.bulk_insert import insert_rows

COLUMNS = ("id", "seq", "tags", "note", "created_at", "vector")


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "bulk.duckdb")) as connection:
        connection.execute("CREATE TABLE t (id VARCHAR, seq BIGINT, tags VARCHAR[], note VARCHAR, "
                           "created_at TIMESTAMP, vector FLOAT[])")
        yield connection


@pytest.mark.parametrize("count, width", [(1, 384), (2500, 768), (3, 1536)])
def test_rows_with_vectors_keep_their_own_values(con, count, width):
    rng = np.random.default_rng(count)
    vectors = rng.standard_normal((count, width)).astype(np.float32)
    rows = [(f"p{i}", 1000 - i, [] if i % 2 else ["b", "a"], None if i % 3 else f"note {i}",
             datetime(2026, 1, 1, 12, i % 60), vectors[i]) for i in range(count)]
    insert_rows(con, "t", COLUMNS, rows)

    stored = con.execute("SELECT id, seq, tags, note, created_at, vector FROM t ORDER BY seq DESC").fetchall()
    assert len(stored) == count
    for row, back in zip(rows, stored):
        assert back[:5] == row[:5]
        assert np.array_equal(np.asarray(back[5], dtype=np.float32), row[5])


def test_rows_without_vectors_and_columns_of_nothing_but_nulls(con):
    rows = [(f"m{i}", i, [], None, None) for i in range(50)]
    insert_rows(con, "t", COLUMNS[:5], rows)
    assert con.execute("SELECT count(*), count(note), count(created_at), count(vector), "
                       "sum(len(tags)) FROM t").fetchone() == (50, 0, 0, 0, 0)


def test_nothing_to_insert_is_no_statement(con):
    insert_rows(con, "t", COLUMNS, [])
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_archival_memory_never_imports_pyarrow(tmp_path):
    """pyarrow left the runtime (168 MiB of a user's install): writing and searching passages
    must not need it, even where it is installed."""
    probe = f"""
import sys
from pathlib import Path
import numpy as np
from memos.store.base import NewAgent, NewPassage, PassageQuery
from memos.store.duckdb.store import DuckDBStore
store = DuckDBStore(Path({str(tmp_path / "home.duckdb")!r}))
agent = store.create_agent(NewAgent(name="a", system="s", model="m", embedding_model="minilm", context_window=8000), [])
vectors = np.eye(3, 384, dtype=np.float32)
store.insert_passages(agent.id, [NewPassage(f"note {{i}}", v) for i, v in enumerate(vectors)])
store.rebuild_vector_index(agent.id)
hits = store.search_passages(agent.id, PassageQuery(mode="vector", embedding=vectors[1], top_k=2))
print(hits[0].passage.text, "pyarrow" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["note", "1", "False"], out.stderr
