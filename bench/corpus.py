"""A real-text corpus for the benchmarks, made on the machine (nothing downloaded).

Sentences come from the docstrings and comments of Python's own standard
library, which is the same for a given Python version, so runs are
comparable. Embeddings are computed once with memos's embedder and cached
in bench/.cache/ (about 7 minutes for 100k on 2 cores).
"""

from __future__ import annotations

import re
import sysconfig
import time
from pathlib import Path

import numpy as np

CACHE = Path(__file__).parent / ".cache"
_SPLIT = re.compile(r"(?<=[.!?])\s+")


def sentences(limit: int) -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    found: list[str] = []
    for path in sorted(stdlib.rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        chunks = re.findall(r'"""(.*?)"""', text, re.S) + re.findall(r"#\s*(.+)", text)
        for chunk in chunks:
            for sentence in _SPLIT.split(" ".join(chunk.split())):
                words = sentence.split()
                if 5 <= len(words) <= 60 and sentence not in seen and not sentence.startswith((">>>", "-*-")):
                    seen.add(sentence)
                    found.append(sentence)
    if len(found) < limit:
        # Pair sentences up to reach the size asked for: still real text, new meanings.
        base = list(found)
        i = 0
        while len(found) < limit:
            found.append(f"{base[i % len(base)]} {base[(i * 7 + 3) % len(base)]}")
            i += 1
    return found[:limit]


def embedded(n: int) -> tuple[list[str], np.ndarray]:
    """The first n sentences and their embeddings (cached)."""
    from memos.store.embeddings import get_embedder

    CACHE.mkdir(exist_ok=True)
    texts = sentences(n)
    path = CACHE / f"emb-{n}.npy"
    if path.exists():
        vectors = np.load(path)
        if vectors.shape == (n, 384):
            return texts, vectors
    bigger = sorted((int(p.stem.split("-")[1]), p) for p in CACHE.glob("emb-*.npy"))
    for size, p in bigger:
        if size > n:
            return texts, np.load(p)[:n]
    embedder = get_embedder("local/all-MiniLM-L6-v2")
    start = time.perf_counter()
    parts = []
    for i in range(0, n, 1024):
        parts.append(embedder.embed(texts[i:i + 1024]))
        done = min(i + 1024, n)
        rate = done / (time.perf_counter() - start)
        print(f"  embedded {done}/{n} ({rate:.0f}/s)", flush=True)
    vectors = np.concatenate(parts)
    np.save(path, vectors)
    return texts, vectors


def fill(ws, agent_id: str, *, passages: int, messages: int, recent: int = 20) -> None:  # type: ignore[no-untyped-def]
    """A steady-state store: ``passages`` embedded passages, ``messages`` messages (all but the
    ``recent`` ones summarised out of context), and a built vector index."""
    from memos.store.base import NewMessage, NewPassage

    texts, vectors = embedded(passages + 1_000)
    with ws.store.transaction():
        for i in range(0, passages, 5_000):
            ws.store.insert_passages(agent_id, [NewPassage(t, v) for t, v in
                                                zip(texts[i:i + 5000], vectors[i:min(i + 5000, passages)])])
        old = [NewMessage("user" if i % 2 == 0 else "assistant", texts[i % len(texts)], in_context=False)
               for i in range(messages - recent)]
        ws.store.append_messages(agent_id, old)
        ws.store.append_messages(agent_id, [NewMessage("user", f"recent {i}") for i in range(recent)])
    ws.store.rebuild_vector_index(agent_id)
