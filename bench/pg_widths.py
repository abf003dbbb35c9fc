"""Vectors of several widths in PostgreSQL + pgvector (issue 32): one table with a partial HNSW
index per width (what memos does, postgres/vectors.py) against one table per width.

Both layouts hold the same rows: N vectors of 384 dimensions and N of 1536 (random unit vectors,
the agents' widths mixed in insert order). For each layout: the time to build the indexes, and the
p50 / p95 of a top-10 cosine query per width through the HNSW index (ef_search 100), and whether
the planner used the index. Run: .venv/bin/python bench/pg_widths.py [--rows N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line  # noqa: E402

WIDTHS = (384, 1536)
QUERIES = 200


def unit_rows(count: int, width: int, seed: int):  # type: ignore[no-untyped-def]
    import numpy as np

    rows = np.random.default_rng(seed).standard_normal((count, width)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def timed_queries(con, sql: str, queries) -> tuple[float, float, bool]:  # type: ignore[no-untyped-def]
    plan = "\n".join(r[0] for r in con.execute("EXPLAIN " + sql, {"q": queries[0]}).fetchall())
    times = []
    for query in queries:
        started = time.perf_counter()
        con.execute(sql, {"q": query}).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)], "Index Scan" in plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="vectors of each width")
    args = parser.parse_args()
    import psycopg
    from pgvector.psycopg import register_vector

    from tests.postgres import new_database, start_server

    data = {width: unit_rows(args.rows, width, seed=width) for width in WIDTHS}
    queries = {width: list(unit_rows(QUERIES, width, seed=width + 1)) for width in WIDTHS}
    print(machine_line() + f" · {args.rows:,} vectors of each width {WIDTHS}")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "pgdata")
        url = new_database(server)
        with psycopg.connect(url, autocommit=True) as con:
            con.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(con)
            con.execute("SET maintenance_work_mem = '512MB'")
            con.execute("CREATE TABLE mixed (id bigserial PRIMARY KEY, embedding vector NOT NULL)")
            for width in WIDTHS:
                con.execute(f"CREATE TABLE only_{width} (id bigserial PRIMARY KEY, embedding vector({width}) NOT NULL)")
            with con.cursor() as cur:  # interleaved in the mixed table, as two agents' inserts would be
                cur.executemany("INSERT INTO mixed (embedding) VALUES (%s)",
                                [[data[width][i]] for i in range(args.rows) for width in WIDTHS])
                for width in WIDTHS:
                    cur.executemany(f"INSERT INTO only_{width} (embedding) VALUES (%s)", [[row] for row in data[width]])
            layouts = {}
            started = time.perf_counter()
            for width in WIDTHS:
                con.execute(f"CREATE INDEX ON mixed USING hnsw ((embedding::vector({width})) vector_cosine_ops) "
                            f"WITH (m = 16, ef_construction = 128) WHERE vector_dims(embedding) = {width}")
            layouts["one table, partial index per width"] = time.perf_counter() - started
            started = time.perf_counter()
            for width in WIDTHS:
                con.execute(f"CREATE INDEX ON only_{width} USING hnsw (embedding vector_cosine_ops) "
                            "WITH (m = 16, ef_construction = 128)")
            layouts["a table per width"] = time.perf_counter() - started
            con.execute("ANALYZE")
            con.execute("SET hnsw.ef_search = 100")
            for layout, build in layouts.items():
                print(f"{layout}: indexes built in {build:.1f} s")
                for width in WIDTHS:
                    if layout.startswith("one table"):
                        sql = (f"SELECT id FROM mixed WHERE vector_dims(embedding) = {width} "
                               f"ORDER BY embedding::vector({width}) <=> %(q)s::vector({width}) LIMIT 10")
                    else:
                        sql = f"SELECT id FROM only_{width} ORDER BY embedding <=> %(q)s LIMIT 10"
                    p50, p95, indexed = timed_queries(con, sql, queries[width])
                    print(f"  {width}-d top 10: p50 {p50:.2f} ms, p95 {p95:.2f} ms, index used: {indexed}")
        server._cleanup()


if __name__ == "__main__":
    main()
