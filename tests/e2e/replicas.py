"""Several `memos serve` replicas on one PostgreSQL database, as a team runs them on several
machines: each a process with a home of its own (nothing on disk is shared), all on the
database of the `postgres_url` fixture and the scripted LLM of `fake_llm`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import MEMOS_BIN, Result, run_memos, stop_process

SHOUT = '''def shout(text: str) -> str:
    """Shout the text.

    Args:
        text: What to shout.

    Returns:
        The text in capitals.
    """
    return text.upper() + "!"
'''


@dataclass
class Replica:
    name: str
    home: Path
    url: str
    proc: subprocess.Popen[str]

    token: str | None = None  # the bearer token the replica was started with
    env: dict[str, str] = field(default_factory=dict)  # what the replica was started with beside os.environ
    log: list[str] = field(default_factory=list)

    def http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.request(method, self.url + path, timeout=kwargs.pop("timeout", 60), headers=headers, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http(method, path, **kwargs)
        assert response.status_code < 300, f"{self.name} {method} {path}: {response.status_code} {response.text}"
        return response.json()

    def agent_with_shout(self, name: str = "ada") -> dict[str, Any]:
        """A new agent on this replica, with the custom tool shout (SHOUT) attached."""
        agent: dict[str, Any] = self.ok("POST", "/v1/agents/", json={"name": name, "model": "openai/fake-model"})
        tool = self.ok("PUT", "/v1/tools/", json={"source_code": SHOUT})
        self.ok("PATCH", f"/v1/agents/{agent['id']}/tools/attach/{tool['id']}")
        return agent

    def cli(self, *args: str, input: str | None = None) -> Result:
        """`memos ARGS` on this replica's machine (its home, the shared database)."""
        return run_memos(*args, input=input, env={**self.env, "MEMOS_HOME": str(self.home)})

    def freeze(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)


def start_replica(name: str, home: Path, env: dict[str, str] | None = None) -> Replica:
    proc = subprocess.Popen([str(MEMOS_BIN), "serve", "--port", "0"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MEMOS_HOME": str(home), "MEMOS_REPLICA_ID": name, **(env or {})})
    assert proc.stderr is not None
    line = proc.stderr.readline()
    match = re.search(r"http://([\d.]+):(\d+)", line)
    if not match:
        proc.kill()
        raise AssertionError(f"replica {name} did not start: {line!r} {proc.stderr.read()}")
    replica = Replica(name, home, f"http://{match.group(1)}:{match.group(2)}", proc,
                      token=(env or {}).get("MEMOS_SERVER_TOKEN"), env=dict(env or {}))
    # Drained, or a full pipe would block the server's logging; kept for a failing test's message.
    threading.Thread(target=lambda: replica.log.extend(proc.stderr or ()), daemon=True).start()
    return replica


@contextmanager
def replicas(root: Path, count: int = 2, env: dict[str, str] | None = None) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for i in range(count):
            name = "abc"[i] if i < 3 else f"r{i}"
            started.append(start_replica(name, root / f"home-{name}", env))
        yield started
    finally:
        for replica in started:
            if replica.proc.poll() is None:
                replica.thaw()  # a frozen process cannot act on SIGTERM
                stop_process(replica.proc)
