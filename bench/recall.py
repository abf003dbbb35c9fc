"""LoCoMo-10 evidence recall of archival search, per mode, through memos.core.archival (issue 15).

LoCoMo (snap-research/locomo, CC BY-NC 4.0, not vendored here): ten long conversations of two
speakers with questions whose evidence is named by dialogue turn. Every turn is stored as one
passage of its own agent, "[D1:3] (1:56 pm on 8 May, 2023) Caroline: text", and every question
of categories 1-4 with evidence is searched; recall@k is the share of the question's evidence
turns among the top k, averaged over questions.

Conversations conv-26, 30, 41, 42, 43 are the dev half (anything tuned is tuned on them only);
conv-44, 47, 48, 49, 50 are held out and reported as such.

Run: .venv/bin/python bench/recall.py --locomo /path/to/locomo10.zip
     (data/locomo10.zip of the locomo repository, or its unpacked locomo10_v2 directory)
     --tune prints the fusion grid on the dev half (scores fetched once, fused offline).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import machine_line  # noqa: E402

DEV = ("26", "30", "41", "42", "43")
HELD_OUT = ("44", "47", "48", "49", "50")
CATEGORIES = (1, 2, 3, 4)
TURN_ID = re.compile(r"^\[(D\d+:\d+|C\d+)\]")


@dataclass
class Conversation:
    name: str
    passages: list[str]  # one per dialogue turn, each starting with its "[D<session>:<turn>]" id
    questions: list[tuple[str, set[str]]]  # (question, evidence turn ids)


def read_locomo(path: Path) -> dict[str, Conversation]:
    """The ten conversations, from the zip or its unpacked directory."""
    raw: dict[str, Any] = {}
    if path.is_file():
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".json"):
                    raw[Path(name).stem] = json.loads(archive.read(name))
    else:
        for file in sorted(path.glob("*.json")):
            raw[file.stem] = json.loads(file.read_text())
    if not raw:
        raise SystemExit(f"no LoCoMo conversations in {path}")
    return {name: _conversation(name, data) for name, data in raw.items()}


def _conversation(name: str, data: dict[str, Any]) -> Conversation:
    passages = []
    sessions = sorted((int(key.split("_")[1]), key) for key in data
                      if re.fullmatch(r"session_\d+", key) and isinstance(data[key], list))
    for _, key in sessions:
        when = data.get(f"{key}_date_time", "")
        for turn in data[key]:
            passages.append(f"[{turn['dia_id']}] ({when}) {turn['speaker']}: {turn.get('text', '')}")
    questions = []
    for qa in data.get("qa", []):
        evidence = {e.strip() for e in qa.get("evidence", []) if TURN_ID.match(f"[{e.strip()}]")}
        if qa.get("category") in CATEGORIES and evidence:
            questions.append((str(qa["question"]), evidence))
    return Conversation(name, passages, questions)


def read_cranfield(path: Path) -> Conversation:
    """The Cranfield collection (aeronautics abstracts, 1,400 documents, 225 queries with graded
    relevance): cran.all.1400, cran.qry and cranqrel in one directory. A second domain, used
    only as held-out data: nothing is tuned on it. Queries are numbered 1..225 in cranqrel,
    in the order of cran.qry (whose own .I numbers skip); relevance -1 ("no relevance") is left out."""

    def records(text: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        field = ""
        for line in text.splitlines():
            if line.startswith(".I "):
                out.append({"I": line[3:].strip()})
                field = ""
            elif re.fullmatch(r"\.[A-Z]", line.strip()):
                field = line.strip()[1]
                out[-1][field] = ""
            elif out and field:
                out[-1][field] += line + " "
        return out

    documents = records((path / "cran.all.1400").read_text(errors="replace"))
    passages = [f"[C{int(d['I'])}] {' '.join(d.get('T', '').split())}. {' '.join(d.get('W', '').split())}"
                for d in documents]
    queries = [" ".join(q.get("W", "").split()) for q in records((path / "cran.qry").read_text(errors="replace"))]
    relevant: dict[int, set[str]] = {}
    for line in (path / "cranqrel").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and int(parts[2]) >= 1:
            relevant.setdefault(int(parts[0]), set()).add(f"C{int(parts[1])}")
    questions = [(query, relevant[number]) for number, query in enumerate(queries, start=1) if number in relevant]
    return Conversation("cranfield", passages, questions)


def recall(found: list[str], evidence: set[str], k: int) -> float:
    return len(evidence & set(found[:k])) / len(evidence)


def turn_ids(texts: list[str]) -> list[str]:
    return [match.group(1) for text in texts if (match := TURN_ID.match(text))]


def load(conversations: dict[str, Conversation], home: Path) -> tuple[Any, dict[str, Any]]:
    """A workspace with one agent per conversation, its turns stored as passages."""
    os.environ["MEMOS_HOME"] = str(home)
    from memos.core import archival
    from memos.core.agents import create_agent
    from memos.core.ingest import Record
    from memos.core.workspace import Workspace
    from memos.store.base import NewMessage

    ws = Workspace()
    agents = {}
    for name, conversation in conversations.items():
        agent = create_agent(ws, f"conv-{name}")
        archival.insert(ws.store, agent, [Record(text) for text in conversation.passages])
        # The same turns as the agent's message log, for conversation_search (two speakers:
        # user and assistant, taking turns as they spoke).
        speakers: list[str] = []
        messages = []
        for text in conversation.passages:
            speaker = text.split(") ", 1)[-1].split(":", 1)[0]
            if speaker not in speakers:
                speakers.append(speaker)
            role = "user" if speakers.index(speaker) == 0 else "assistant"
            messages.append(NewMessage(role, text, in_context=False))
        ws.store.append_messages(agent.id, messages)
        agents[name] = agent
    return ws, agents


def measure(ws: Any, agents: dict[str, Any], conversations: dict[str, Conversation], modes: list[str],
            halves: dict[str, tuple[str, ...]]) -> dict[str, dict[str, list[float]]]:
    """recall@5, recall@10 and latency per mode and conversation half."""
    from memos.core import archival
    from memos.store.base import PassageQuery
    from memos.tools.builtins import ToolContext, conversation_search

    results: dict[str, dict[str, list[float]]] = {}
    for mode in modes:
        for half, names in halves.items():
            r5, r10, times = [], [], []
            for name in names:
                agent = agents[name]
                for question, evidence in conversations[name].questions:
                    started = time.perf_counter()
                    if mode == "conversation_search":  # the agent's tool, as the model would call it
                        answer = conversation_search(ToolContext(ws.store, agent), query=question, limit=10) or ""
                        texts = [r["content"] for r in json.loads(answer.split("\n", 1)[1])] if "\n" in answer else []
                    else:
                        hits = archival.search(ws.store, agent, PassageQuery(text=question, mode=mode, top_k=10))
                        texts = [hit.passage.text for hit in hits]
                    times.append(time.perf_counter() - started)
                    found = turn_ids(texts)
                    r5.append(recall(found, evidence, 5))
                    r10.append(recall(found, evidence, 10))
            results[f"{mode}|{half}"] = {"r5": r5, "r10": r10, "ms": [t * 1000 for t in times]}
    return results


def query_embedding_ms(questions: list[str]) -> tuple[float, float]:
    """p50 and p95 of embedding one query at a time, warm: what a search waits before it starts."""
    from memos.store.embeddings import get_embedder

    embedder = get_embedder("local/all-MiniLM-L6-v2")
    embedder.embed(["warm up"])
    times = []
    for question in questions:
        started = time.perf_counter()
        embedder.embed([question])
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=20)[18]


def report(results: dict[str, dict[str, list[float]]]) -> None:
    print(f"{'mode':<10} {'set':<22} {'questions':>9} {'R@5':>6} {'R@10':>6} {'p50 ms':>7}")
    for key, values in sorted(results.items(), key=lambda kv: (kv[0].split("|")[1], kv[0])):
        mode, half = key.split("|")
        print(f"{mode:<10} {half:<22} {len(values['r5']):>9} {statistics.mean(values['r5']):6.3f} "
              f"{statistics.mean(values['r10']):6.3f} {statistics.median(values['ms']):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", type=Path, required=True, help="locomo10.zip or its unpacked directory")
    parser.add_argument("--cranfield", type=Path, help="a directory with cran.all.1400, cran.qry and cranqrel")
    parser.add_argument("--modes", default="hybrid,text,vector,conversation_search")
    parser.add_argument("--postgres", action="store_true",
                        help="store in PostgreSQL + pgvector (the tests' embedded server) instead of DuckDB")
    parser.add_argument("--tune", action="store_true", help="print the fusion grid on the dev half, then stop")
    args = parser.parse_args()
    conversations = read_locomo(args.locomo)
    missing = set(DEV + HELD_OUT) - set(conversations)
    if missing:
        raise SystemExit(f"conversations missing from {args.locomo}: {sorted(missing)}")
    if args.tune:
        print(machine_line())
        tune({name: conversations[name] for name in DEV})
        return
    halves = {"LoCoMo dev": DEV, "LoCoMo held out": HELD_OUT}
    if args.cranfield:
        conversations["cranfield"] = read_cranfield(args.cranfield)
        halves["Cranfield (held out)"] = ("cranfield",)
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if args.postgres:
            from tests.postgres import new_database, start_server

            server = start_server(Path(tmp) / "pgdata")
            os.environ["MEMOS_DATABASE_URL"] = new_database(server)
        started = time.perf_counter()
        ws, agents = load(conversations, Path(tmp))
        print(f"# stored {sum(len(c.passages) for c in conversations.values()):,} turns in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        results = measure(ws, agents, conversations, args.modes.split(","), halves)
        ws.close()
        if server is not None:
            server._cleanup()  # also at exit; now, before the temp dir goes
    print(machine_line() + (" · PostgreSQL" if args.postgres else " · DuckDB"))
    report(results)
    from memos.store.embeddings import LocalMiniLM

    p50, p95 = query_embedding_ms([q for name in HELD_OUT for q, _ in conversations[name].questions][:300])
    print(f"query embedding alone ({LocalMiniLM.backend()}, one query at a time): p50 {p50:.2f} ms, p95 {p95:.2f} ms")



# -- tuning on the dev half: every score computed once for every passage, fused offline ------

def _bm25_parts(passages: list[str], question: str, k1: float | None = None,
                b: float | None = None) -> tuple[Any, Any, int]:
    """BM25 of every passage for the question (memos's tokenizer, k1 and b), the idf of each
    query term present in the conversation, and how many query terms there are."""
    import numpy as np

    from memos.store.text import BM25_B, BM25_K1, query_terms, term_counts

    k1 = BM25_K1 if k1 is None else k1
    b = BM25_B if b is None else b
    counts = _COUNTS.get(id(passages)) or _COUNTS.setdefault(id(passages), [term_counts(p) for p in passages])
    lengths = np.array([sum(c.values()) for c in counts], dtype=np.float64)
    avgdl = max(float(lengths.mean()), 1.0)
    scores = np.zeros(len(passages))
    idfs: list[float] = []
    absent: list[float] = []
    terms = query_terms(question)
    for term in terms:
        tf = np.array([c.get(term, 0) for c in counts], dtype=np.float64)
        df = int((tf > 0).sum())
        if df == 0:
            absent.append(np.log(1 + (len(passages) + 0.5) / 0.5))
            continue
        idf = np.log(1 + (len(passages) - df + 0.5) / (df + 0.5))
        idfs.append(idf)
        scores += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths / avgdl))
    _ABSENT[question] = float(sum(absent))
    return scores, np.array(idfs), len(terms)


_ABSENT: dict[str, float] = {}
_COUNTS: dict[int, Any] = {}


def tune(conversations: dict[str, Conversation]) -> None:
    import numpy as np

    from memos.store.embeddings import get_embedder
    from memos.store.text import BM25_K1

    embedder = get_embedder("local/all-MiniLM-L6-v2")
    grid = [(k1, b) for k1 in (0.9, 1.2, 1.6) for b in (0.4, 0.75, 0.9)]
    variants: dict[tuple[float, float], list[Any]] = {kb: [] for kb in grid}
    cases = []  # (vector scores, bm25 scores, idfs, n terms, evidence mask)
    expansions: list[tuple[list[str], str]] = []
    for name in DEV:
        conversation = conversations[name]
        ids = turn_ids(conversation.passages)
        vectors = embedder.embed(conversation.passages)
        questions = [q for q, _ in conversation.questions]
        query_vectors = embedder.embed(questions)
        for (question, evidence), query in zip(conversation.questions, query_vectors):
            bm25, idfs, n_terms = _bm25_parts(conversation.passages, question)
            mask = np.array([i in evidence for i in ids])
            cases.append((vectors @ query, bm25, idfs, _ABSENT[question], mask))
            expansions.append((conversation.passages, question))
            for k1, b in grid:
                other, _, _ = _bm25_parts(conversation.passages, question, k1, b)
                variants[(k1, b)].append((vectors @ query, other, idfs, n_terms, mask))

    def evaluate(fuse: Any, over: list[Any] | None = None) -> tuple[float, float]:
        r5, r10 = [], []
        for vector, bm25, idfs, n_terms, mask in over or cases:
            order = np.argsort(-fuse(vector, bm25, idfs, n_terms), kind="stable")
            r5.append(mask[order[:5]].sum() / mask.sum())
            r10.append(mask[order[:10]].sum() / mask.sum())
        return float(np.mean(r5)), float(np.mean(r10))

    def ranks(scores: Any) -> Any:
        out = np.empty(len(scores))
        out[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        return out

    def rrf(depth: int, weight: float = 0.5) -> Any:
        def fuse(vector: Any, bm25: Any, idfs: Any, n_terms: int) -> Any:
            v, t = ranks(vector), ranks(bm25)
            return (weight * np.where(v <= depth, 1 / (60 + v), 0)
                    + (1 - weight) * np.where((t <= depth) & (bm25 > 0), 1 / (60 + t), 0))
        return fuse

    def convex(weight: float, norm: str) -> Any:
        def fuse(vector: Any, bm25: Any, idfs: Any, n_terms: int) -> Any:
            if norm == "max-possible":
                top = idfs.sum() * (BM25_K1 + 1) if len(idfs) else 1.0
            else:  # the best score of this query
                top = bm25.max() if bm25.max() > 0 else 1.0
            return weight * vector + (1 - weight) * bm25 / top
        return fuse

    print(f"# tuning on the dev half only: {', '.join('conv-' + n for n in DEV)}; {len(cases)} questions")
    print(f"{'fusion':<40} {'R@5':>6} {'R@10':>6}")
    rows = [("vector alone", lambda v, b, i, n: v), ("text alone (BM25)", lambda v, b, i, n: b),
            ("RRF k=60, depth 50 (before)", rrf(50))]
    rows += [(f"RRF depth 50, vector weight {w}", rrf(50, w)) for w in (0.3, 0.4)]
    for norm in ("max-possible", "query-best"):
        rows += [(f"convex {norm}, vector weight {w}", convex(w, norm)) for w in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)]
    def with_absent(weight: float) -> Any:
        def fuse(vector: Any, bm25: Any, idfs: Any, absent: float) -> Any:
            top = (idfs.sum() + absent) * (BM25_K1 + 1)
            return weight * vector + (1 - weight) * (bm25 / top if top > 0 else 0)
        return fuse

    rows += [(f"convex incl. absent terms, weight {w}", with_absent(w)) for w in (0.3, 0.4, 0.5, 0.6)]

    def zscored(weight: float) -> Any:
        def fuse(vector: Any, bm25: Any, idfs: Any, n_terms: int) -> Any:
            top = idfs.sum() * (BM25_K1 + 1) if len(idfs) else 1.0
            head = np.sort(vector)[-100:]
            return weight * (vector - head.mean()) / (head.std() + 1e-9) * 0.1 + (1 - weight) * bm25 / top
        return fuse

    rows += [(f"convex z-scored vector, weight {w}", zscored(w)) for w in (0.3, 0.4, 0.5)]
    for label, fuse in rows:
        r5, r10 = evaluate(fuse)
        print(f"{label:<40} {r5:6.3f} {r10:6.3f}")
    print("# pseudo-relevance feedback: the top text hits' rarest shared terms added to the query")
    from memos.store.text import query_terms as _query_terms
    for top_docs, n_new, weight, w, restricted, gate in (
            (3, 5, 0.5, 0.4, True, ""), (3, 5, 0.5, 0.4, True, "threshold"), (3, 5, 0.5, 0.4, True, "share"),
            (3, 5, 1.0, 0.4, True, "share"), (3, 5, 1.5, 0.4, True, "share"), (3, 5, 2.0, 0.4, True, "share")):
        expanded_cases = []
        for (vector, bm25, idfs, absent, mask), (passages, question) in zip(cases, expansions):
            counts = _COUNTS[id(passages)]
            n = len(passages)
            df: dict[str, int] = {}
            for c in counts:
                for t in c:
                    df[t] = df.get(t, 0) + 1
            original = set(_query_terms(question))
            weight_of: dict[str, float] = {}
            for i in np.argsort(-bm25)[:top_docs]:
                for t, tf in counts[i].items():
                    if t not in original:
                        weight_of[t] = weight_of.get(t, 0.0) + tf * np.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            new_terms = sorted(weight_of, key=lambda t: -weight_of[t])[:n_new]
            extra, _, _ = _bm25_parts(passages, " ".join(new_terms)) if new_terms else (np.zeros(n), None, 0)
            scale = (idfs.sum() + absent) * (BM25_K1 + 1)
            confidence = float(np.sort(bm25)[-top_docs:].mean() / scale) if scale > 0 else 0.0
            if gate == "share":
                extra = extra * min(1.0, confidence)
            elif gate == "threshold" and confidence < 0.2:
                extra = extra * 0
            if restricted:  # only the first pass's candidates (each mode's top 50) are re-scored
                keep = np.zeros(n, dtype=bool)
                keep[np.argsort(-bm25)[:50]] = True
                keep[np.argsort(-vector)[:50]] = True
                expanded_cases.append((np.where(keep, vector, -9), np.where(keep, bm25 + weight * extra, 0), idfs,
                                       absent, mask))
            else:
                expanded_cases.append((vector, bm25 + weight * extra, idfs, absent, mask))
        r5, r10 = evaluate(with_absent(w), expanded_cases)
        label = f"PRF top {top_docs}, {n_new} x {weight}, w {w}" + (", rescored" if restricted else "") + f" {gate}"
        print(f"{label:<40} {r5:6.3f} {r10:6.3f}")
    for (k1, b), over in variants.items():
        for w in (0.3, 0.4, 0.5):
            r5, r10 = evaluate(convex(w, "max-possible"), over)
            print(f"{f'convex max-possible w {w}, k1 {k1} b {b}':<40} {r5:6.3f} {r10:6.3f}")


if __name__ == "__main__":
    main()
