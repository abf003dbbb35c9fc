"""A separate process using the store, for the multi-process tests.

    python -m tests.integration.store_worker write DB AGENT_ID COUNT WORKER
    python -m tests.integration.store_worker read DB AGENT_ID STOP_FILE
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from memos.store import open_store
from memos.store.base import NewMessage, NewPassage, PassageQuery


def write(db: Path, agent_id: str, count: int, worker: int) -> None:
    store = open_store(db)
    rng = np.random.default_rng(worker)
    for i in range(count):
        store.append_messages(agent_id, [NewMessage("user", f"worker {worker} message {i}")])
        vector = rng.standard_normal(384).astype(np.float32)
        store.insert_passages(agent_id, [NewPassage(f"worker {worker} passage {i}", vector / np.linalg.norm(vector),
                                                    tags=[f"w{worker}"])])
    print(f"worker {worker} wrote {count} messages and {count} passages")


def read(db: Path, agent_id: str, stop_file: Path) -> None:
    store = open_store(db)
    rng = np.random.default_rng(99)
    reads = 0
    while not stop_file.exists():
        store.list_messages(agent_id, limit=20)
        vector = rng.standard_normal(384).astype(np.float32)
        store.search_passages(agent_id, PassageQuery(mode="hybrid", text="passage", embedding=vector, top_k=5))
        store.message_stats(agent_id)
        reads += 1
        time.sleep(0.01)
    print(f"reader did {reads} rounds")


if __name__ == "__main__":
    mode, db, agent_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    if mode == "write":
        write(db, agent_id, int(sys.argv[4]), int(sys.argv[5]))
    else:
        read(db, agent_id, Path(sys.argv[4]))
