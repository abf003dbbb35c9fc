"""Archival search at a million passages, on DuckDB and on PostgreSQL + pgvector (issue 15).

The corpus (nothing downloaded, the same on every run):
* text: sentences from the docstrings and comments of Python's standard library, paired into
  as many passages as asked for (bench/corpus.py), so every passage is real English text;
* vectors: synthetic. The first 100k sentences' real MiniLM embeddings (cached by corpus.py),
  each with ten noisy copies (Gaussian noise, sigma 0.03 per dimension, renormalised: cosine
  ~0.86 to its origin), so the space has the clusters of real embeddings rather than the
  uniform noise HNSW finds hardest or easiest;
* queries: 200 held-out sentences (the last of corpus.py's 101k) and their real embeddings.
Recall@10 of vector search is measured against exact numpy search over the same vectors.

DuckDB is filled through `Store.insert_passages` in batches (the sidecars catch up after the
commit); PostgreSQL through `memos db migrate-to` from that DuckDB file (it copies, verifies
and builds its indexes once; batch inserts would grow pgvector's graph row by row for an hour).
Searches run in a fresh process per backend that only opens the store, as `memos` would, which
also gives the memory a searching process needs. Disk is the database plus its sidecars (DuckDB)
or the database's size (PostgreSQL).

Run: .venv/bin/python bench/scale.py [--size 1000000] [--queries 200] [--backends duckdb,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.postgres

from common import machine_line, pct  # noqa: E402
from corpus import embedded, sentences  # noqa: E402

REAL = 100_000  # real embeddings the synthetic ones are made from
QUERY_POOL = 1_000  # held-out sentences after them (corpus.py's 101k)
BATCH = 5_000


def synthetic_vectors(size: int) -> np.ndarray:
    _, real = embedded(REAL + QUERY_POOL)
    rng = np.random.default_rng(15)
    out = np.empty((size, real.shape[1]), dtype=np.float32)
    for start in range(0, size, 100_000):
        rows = np.arange(start, min(start + 100_000, size))
        block = real[rows % REAL] + rng.normal(0, 0.03, (len(rows), real.shape[1])).astype(np.float32)
        out[rows] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def queries(count: int) -> tuple[list[str], np.ndarray]:
    texts, real = embedded(REAL + QUERY_POOL)
    return texts[REAL:REAL + count], real[REAL:REAL + count]


def fill_duckdb(path: Path, texts: list[str], vectors: np.ndarray) -> tuple[str, float, list[str]]:
    from memos.store.base import NewAgent, NewPassage
    from memos.store.duckdb.store import DuckDBStore

    store = DuckDBStore(path)
    agent = store.create_agent(NewAgent("bench", "s", "m", "local/all-MiniLM-L6-v2", 128_000), [])
    start = time.perf_counter()
    # One transaction, as a bulk import makes it: the sidecars catch up once, after the commit.
    with store.transaction():
        for i in range(0, len(texts), BATCH):
            store.insert_passages(agent.id, [NewPassage(t, v) for t, v in
                                             zip(texts[i:i + BATCH], vectors[i:i + BATCH])])
            if (i // BATCH) % 20 == 19:
                print(f"  stored {i + BATCH:,} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    store.rebuild_vector_index(agent.id)
    seconds = time.perf_counter() - start
    with store._read() as con:
        ids = [r[0] for r in con.execute("SELECT id FROM passages WHERE agent_id = ? ORDER BY seq",
                                         [agent.id]).fetchall()]
    store.close()
    return agent.id, seconds, ids


def existing(path: Path) -> tuple[str, float, list[str]]:
    from memos.store.duckdb.store import DuckDBStore

    store = DuckDBStore(path)
    with store._read() as con:
        agent_id = con.execute("SELECT id FROM agents WHERE name = 'bench'").fetchone()[0]
        ids = [r[0] for r in con.execute("SELECT id FROM passages WHERE agent_id = ? ORDER BY seq",
                                         [agent_id]).fetchall()]
    store.close()
    return agent_id, 0.0, ids


def disk_bytes(*paths: Path) -> int:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total


def search_process(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh process: open the store, warm it with a few queries, time every mode."""
    from memos.store import open_store
    from memos.store.base import PassageQuery

    store = open_store(Path(spec["location"])) if spec["backend"] == "duckdb" else _postgres(spec["location"])
    store.tune_for_long_running()
    q_texts = spec["texts"]
    q_vectors = np.load(spec["vectors"])
    results: dict[str, Any] = {}
    for mode in ("vector", "text", "hybrid"):
        for text, vector in zip(q_texts[:5], q_vectors[:5]):  # warm: first touches of the index files
            store.search_passages(spec["agent"], PassageQuery(mode=mode, text=text, embedding=vector, top_k=10))
        times, found = [], []
        for text, vector in zip(q_texts, q_vectors):
            start = time.perf_counter()
            hits = store.search_passages(spec["agent"], PassageQuery(mode=mode, text=text, embedding=vector, top_k=10))
            times.append(time.perf_counter() - start)
            found.append([h.passage.id for h in hits])
        results[mode] = {"p50": pct(times, 50), "p95": pct(times, 95), "hits": found}
    with open("/proc/self/status", encoding="utf-8") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    results["peak_rss"] = rss
    store.close()
    return results


def _postgres(url: str) -> Any:
    from memos.store.postgres.store import PostgresStore

    return PostgresStore(url)


def run_search(spec: dict[str, Any], directory: Path) -> dict[str, Any]:
    spec_path = directory / f"spec-{spec['backend']}.json"
    spec_path.write_text(json.dumps(spec))
    out = subprocess.run([sys.executable, __file__, "--search-spec", str(spec_path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backends", default="duckdb,postgres")
    parser.add_argument("--reuse-duckdb", type=Path,
                        help="a DuckDB file a previous run filled (kept with --keep): skip filling it")
    parser.add_argument("--keep", type=Path, help="copy the filled DuckDB file here, for --reuse-duckdb")
    parser.add_argument("--search-spec", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_spec:
        print(json.dumps(search_process(json.loads(args.search_spec.read_text()))))
        return

    backends = args.backends.split(",")
    print(machine_line())
    started = time.perf_counter()
    texts = sentences(args.size)
    vectors = synthetic_vectors(args.size)
    q_texts, q_vectors = queries(args.queries)
    exact = [set(np.argpartition(-(vectors @ q), 10)[:10].tolist()) for q in q_vectors]
    print(f"# corpus of {args.size:,} ready in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(dir=os.environ.get("MEMOS_BENCH_TMP")) as tmp:
        root = Path(tmp)
        np.save(root / "queries.npy", q_vectors)
        duck_path = root / "scale.duckdb"
        sidecars = (".vectors", ".text")
        if args.reuse_duckdb:
            shutil.copy(args.reuse_duckdb, duck_path)
            for suffix in sidecars:  # the sidecars too, if kept: else the search process builds them
                kept = args.reuse_duckdb.with_name(args.reuse_duckdb.name + suffix)
                if kept.is_dir():
                    shutil.copytree(kept, duck_path.with_name(duck_path.name + suffix))
            agent_id, fill_seconds, ids = existing(duck_path)
        else:
            agent_id, fill_seconds, ids = fill_duckdb(duck_path, texts, vectors)
            if args.keep:
                shutil.copy(duck_path, args.keep)
                for suffix in sidecars:
                    shutil.copytree(duck_path.with_name(duck_path.name + suffix),
                                    args.keep.with_name(args.keep.name + suffix), dirs_exist_ok=True)
        row_of = {passage_id: row for row, passage_id in enumerate(ids)}
        del vectors
        rows: list[tuple[str, str, dict[str, Any]]] = []
        notes: list[str] = []
        spec = {"location": str(duck_path), "agent": agent_id, "texts": q_texts, "vectors": str(root / "queries.npy")}
        if "duckdb" in backends:
            size = disk_bytes(duck_path, duck_path.with_name(duck_path.name + ".wal"),
                              duck_path.with_name(duck_path.name + ".vectors"),
                              duck_path.with_name(duck_path.name + ".text"))
            result = run_search({**spec, "backend": "duckdb"}, root)
            rows.append(("DuckDB", f"filled in {fill_seconds:.0f} s, {size / 2**30:.2f} GiB on disk, "
                         f"searching process peak RSS {result['peak_rss'] / 2**20:,.0f} MiB", result))
        if "postgres" in backends:
            from memos.store.duckdb.store import DuckDBStore
            from memos.store.postgres.store import PostgresStore
            from memos.store.transfer import migrate_to_postgres
            from tests.postgres import new_database, start_server

            server = start_server(root / "pgdata")
            url = new_database(server)
            start = time.perf_counter()
            source, target = DuckDBStore(duck_path), PostgresStore(url)
            migrate_to_postgres(source, target)
            copied = time.perf_counter() - start
            source.close()
            with target._db.session(write=False) as con:
                pg_size = con.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            target.close()
            result = run_search({**spec, "backend": "postgres", "location": url}, root)
            rows.append(("PostgreSQL", f"migrate-to in {copied:.0f} s, {pg_size / 2**30:.2f} GiB on disk, "
                         f"searching process peak RSS {result['peak_rss'] / 2**20:,.0f} MiB (client)", result))
            server.cleanup()

    print(f"\n| {args.size:,} passages | search | p50 ms | p95 ms | recall@10 |")
    print("|---|---|---|---|---|")
    for name, note, result in rows:
        for mode in ("vector", "text", "hybrid"):
            found = result[mode]
            recall = ""
            if mode == "vector":
                hit = sum(len({row_of[h] for h in hits if h in row_of} & want) for hits, want in zip(found["hits"], exact))
                recall = f"{hit / (10 * len(exact)):.3f}"
            print(f"| {name} | {mode} | {found['p50']:.2f} | {found['p95']:.2f} | {recall} |")
        notes.append(f"- {name}: {note}")
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
