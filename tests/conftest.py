"""Every test gets its own MEMOS_HOME; helpers run the installed `memos` as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

MEMOS_BIN = Path(sys.executable).parent / "memos"
# One ONNX copy of the embedding model for every test's home (made once per machine, by the
# first test that embeds; a fingerprint of the weights names it). tests/integration/
# test_embeddings.py makes its own in a fresh cache to test that path.
SHARED_MODEL_CACHE = Path(tempfile.gettempdir()) / "memos-test-model-cache"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests first (those that give themselves a long timeout, then the slow ones):
    with two workers, a three-minute test handed out near the end holds the whole run up by as
    much. Otherwise the order stays as collected."""
    def weight(item: pytest.Item) -> tuple[int, int]:
        timeout = item.get_closest_marker("timeout")
        seconds = int(timeout.args[0]) if timeout and timeout.args else 0
        return -seconds, 0 if item.get_closest_marker("slow") else 1

    items.sort(key=weight)


@pytest.fixture(autouse=True)
def memos_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "memos-home"
    monkeypatch.setenv("MEMOS_HOME", str(home))
    for var in ("MEMOS_AGENT", "MEMOS_MODEL", "MEMOS_DEBUG", "MEMOS_LOCK_TIMEOUT", "MEMOS_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("MEMOS_MODEL_CACHE", str(SHARED_MODEL_CACHE))
    return home


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run_memos(*args: str, input: bytes | str | None = None, env: dict[str, str] | None = None,
              timeout: float = 120) -> Result:
    """Run the installed `memos` in a subprocess, stdin a pipe (or the given input)."""
    data = input.encode() if isinstance(input, str) else input
    proc = subprocess.run([str(MEMOS_BIN), *args], input=data if data is not None else b"",
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=timeout)
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def memos():  # type: ignore[no-untyped-def]
    return run_memos


def agent_dir(home: Path, name: str) -> Path:
    """An agent's directory in a home: agents/<its id> (names never name directories)."""
    from memos.core.home import Home
    from memos.core.workspace import Workspace

    ws = Workspace(Home(home))
    try:
        return home / "agents" / ws.store.get_agent(name).id
    finally:
        ws.close()


BACKENDS = ("duckdb", "postgresql")
both_backends = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
# For the store's own tests, also duckdb-widened: a DuckDB store where a later migration added a
# column to every table; every statement must still work (INSERTs name their columns).
every_store = pytest.mark.parametrize("backend", (*BACKENDS, "duckdb-widened"), indirect=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An embedded PostgreSQL with pgvector for the whole session. Where it cannot start the
    PostgreSQL tests are skipped with the reason, except under CI, where that is a failure."""
    from tests.postgres import start_server

    try:
        server = start_server(tmp_path_factory.mktemp("postgres") / "data")
    except Exception as exc:  # noqa: BLE001 -- any failure to start is reported the same way
        reason = f"PostgreSQL with pgvector could not start here: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield server
    server.cleanup()


@pytest.fixture
def postgres_database(postgres_server):  # type: ignore[no-untyped-def]
    """The URL of a fresh, empty PostgreSQL database, dropped after the test."""
    from tests.postgres import drop_database, new_database

    url = new_database(postgres_server)
    yield url
    drop_database(postgres_server, url)


@pytest.fixture
def postgres_url(postgres_database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh PostgreSQL database, made the one memos uses (MEMOS_DATABASE_URL)."""
    monkeypatch.setenv("MEMOS_DATABASE_URL", postgres_database)
    return postgres_database


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store backend under test: DuckDB unless a test is parametrised with `both_backends`."""
    name = getattr(request, "param", "duckdb")
    if name == "postgresql":
        request.getfixturevalue("postgres_url")
    return name


@pytest.fixture
def workspace(memos_home: Path, backend: str):  # type: ignore[no-untyped-def]
    from memos.core.workspace import Workspace

    ws = Workspace()
    if backend == "duckdb-widened":
        widen_every_table(ws.store)
    yield ws
    ws.close()


def widen_every_table(store) -> None:  # type: ignore[no-untyped-def]
    """What an `ALTER TABLE ... ADD COLUMN` migration does to every table of the store."""
    with store._db.session(write=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        for table in tables:
            con.execute(f"ALTER TABLE {table} ADD COLUMN added_later VARCHAR DEFAULT 'later'")


@pytest.fixture
def agent(workspace):  # type: ignore[no-untyped-def]
    from memos.core.agents import create_agent

    return create_agent(workspace, "ada")


def unit_vectors(count: int, seed: int = 0, dim: int = 384) -> np.ndarray:
    """Deterministic random unit vectors: stand-ins where the store, not the model, is under test."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((count, dim)).astype(np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A scripted OpenAI-compatible server; memos reaches it as openai/fake-model via OPENAI_BASE_URL."""
    from tests.fakellm import FakeLLM

    yield from serving(FakeLLM(), monkeypatch)


def serving(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point memos at a scripted server (openai/<model> via OPENAI_BASE_URL) for one test."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fake")
    monkeypatch.setenv("MEMOS_RETRY_BASE_SECONDS", "0.05")
    yield server
    server.close()


def stop_process(proc: subprocess.Popen[Any], seconds: float = 15) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``seconds``."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def chat_agent(memos, fake_llm):  # type: ignore[no-untyped-def]
    """An agent whose model is the fake LLM."""
    result = memos("agents", "create", "ada", "--model", "openai/fake-model")
    assert result.code == 0, result.err
    return "ada"


def say(text: str) -> dict:
    """A scripted reply that answers the user through send_message."""
    return {"tool_calls": [{"name": "send_message", "arguments": {"message": text}}]}


def call(name: str, **arguments: Any) -> dict:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def run_statuses(store, agent_id: str) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    """(status, stop_reason) of the agent's runs, oldest first (the store lists no runs yet)."""
    with store._read() as con:
        return [(r[0], r[1]) for r in con.execute(
            "SELECT status, stop_reason FROM runs WHERE agent_id = ? ORDER BY created_at", [agent_id]).fetchall()]


def command_lines() -> list[str]:
    """Every running process's full command line. Read from /proc rather than `ps`, which cuts
    lines at $COLUMNS (or 80) when its output is a pipe, so a long checkout path hides the name."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue  # gone between the listing and the read
            if raw:
                lines.append(raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace"))
    return lines


def spawn_memos(*args: str, extra_env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """`memos ARGS` in a pseudo-terminal (a dumb one, 40x100), as a person at a terminal runs it."""
    import pexpect

    env = {**os.environ, "TERM": "dumb", "COLUMNS": "100", **(extra_env or {})}
    return pexpect.spawn(str(MEMOS_BIN), list(args), env=env, timeout=timeout, encoding="utf-8", dimensions=(40, 100),
                         preexec_fn=as_from_a_terminal)


def end_chat(child: Any) -> None:
    """Ctrl-D at the chat prompt: the session ends cleanly, exit 0."""
    import pexpect

    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def as_from_a_terminal() -> None:
    """preexec_fn for a `memos` the test will interrupt: SIGINT back to its default. A shell
    starts background jobs with SIGINT ignored, and children inherit that, so a suite started
    in the background (`./scripts/dev test &`, cron, nohup) would send Ctrl-C to processes that
    ignore it -- as they should there, unlike in a terminal, where a user presses Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
