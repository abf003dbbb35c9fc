"""Archival search and insert, measured the way memos runs them.

* search latency p50/p95 (vector, text, hybrid) through `Store.search_passages`
  in one long-lived process, at 10k and 100k passages;
* recall@10 of vector search against exact search;
* numpy brute force (exact, in memory) beside it as the floor;
* insert throughput (embed + store) against the raw embedding rate.

Targets (issue 3): at 100k, vector p50 <= 5 ms and recall@10 >= 0.98;
insert >= 85% of the embedding rate.
Run: .venv/bin/python bench/archival.py [--sizes 10000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from common import machine_line, pct
from corpus import embedded

QUERY_POOL = 1_000  # held-out sentences after the largest corpus


def build_store(root: Path, texts: list[str], vectors: np.ndarray):  # type: ignore[no-untyped-def]
    from memos.store import open_store
    from memos.store.base import NewAgent, NewPassage

    store = open_store(root / "bench.duckdb")
    agent = store.create_agent(NewAgent("bench", "s", "m", "local/all-MiniLM-L6-v2", 128_000), [])
    start = time.perf_counter()
    with store.transaction():
        for i in range(0, len(texts), 5_000):
            store.insert_passages(agent.id, [NewPassage(t, v) for t, v in zip(texts[i:i + 5000], vectors[i:i + 5000])])
    stored = time.perf_counter() - start
    start = time.perf_counter()
    store.rebuild_vector_index(agent.id)
    indexed = time.perf_counter() - start
    return store, agent, stored, indexed


def search_bench(size: int, queries: int, all_texts: list[str], all_vectors: np.ndarray) -> list[str]:
    from memos.store.base import PassageQuery

    texts, vectors = all_texts[:size], all_vectors[:size]
    q_texts = all_texts[-QUERY_POOL:][:queries]
    q_vectors = all_vectors[-QUERY_POOL:][:queries]
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        store, agent, stored, indexed = build_store(Path(tmp), texts, vectors)
        store.tune_for_long_running()  # as chat, serve and the TUI run after their first steps
        lines.append(f"| {size:,} | build | store {stored:.1f} s, HNSW index {indexed:.1f} s | | |")
        seq_to_row = {p.id: i for i, p in enumerate(store.list_passages(agent.id, limit=size))}
        results: dict[str, list[float]] = {"vector": [], "text": [], "hybrid": [], "numpy exact": []}
        recall_hits = 0
        exact_tops = []
        for query in q_vectors:
            start = time.perf_counter()
            scores = vectors @ query
            exact_tops.append(set(np.argpartition(-scores, 10)[:10].tolist()))
            results["numpy exact"].append(time.perf_counter() - start)
        # Each mode in its own run of queries, so one mode's scans do not cool another's caches.
        for mode in ("vector", "text", "hybrid"):
            for text, query, exact in zip(q_texts, q_vectors, exact_tops):
                start = time.perf_counter()
                hits = store.search_passages(agent.id, PassageQuery(mode=mode, text=text, embedding=query, top_k=10))
                results[mode].append(time.perf_counter() - start)
                if mode == "vector":
                    recall_hits += len({seq_to_row[h.passage.id] for h in hits} & exact)
        recall = recall_hits / (10 * len(q_vectors))
        for name, values in results.items():
            extra = f"{recall:.3f}" if name == "vector" else ("1.000" if name == "numpy exact" else "")
            lines.append(f"| {size:,} | {name} | {pct(values, 50):.2f} | {pct(values, 95):.2f} | {extra} |")
        store.close()
    return lines


def insert_bench(count: int, all_texts: list[str]) -> list[str]:
    from memos.core import archival
    from memos.core.ingest import Record
    from memos.store import open_store
    from memos.store.base import NewAgent
    from memos.store.embeddings import get_embedder

    texts = all_texts[:count]
    embedder = get_embedder("local/all-MiniLM-L6-v2")
    embedder.embed(texts[:64])  # load the model outside the timings
    start = time.perf_counter()
    for i in range(0, count, archival.EMBED_BATCH):
        embedder.embed(texts[i:i + archival.EMBED_BATCH])
    raw = count / (time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "insert.duckdb")
        agent = store.create_agent(NewAgent("ins", "s", "m", "local/all-MiniLM-L6-v2", 1000), [])
        start = time.perf_counter()
        archival.insert(store, agent, [Record(t) for t in texts])
        full = count / (time.perf_counter() - start)
        store.close()
    return [f"| insert {count:,} passages | raw embedding {raw:.0f}/s | memos insert {full:.0f}/s | "
            f"{full / raw:.0%} of raw |"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--insert", type=int, default=2_000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    total = max(sizes) + QUERY_POOL
    texts, vectors = embedded(total)
    print(machine_line())
    print("| passages | search | p50 ms | p95 ms | recall@10 |")
    print("|---|---|---|---|---|")
    for size in sizes:
        for line in search_bench(size, args.queries, texts, vectors):
            print(line, flush=True)
    print()
    for line in insert_bench(args.insert, texts):
        print(line)


if __name__ == "__main__":
    main()
