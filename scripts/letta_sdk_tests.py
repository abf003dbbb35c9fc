"""Run Letta's own SDK tests against `memos serve` (how issue 21's figures are measured).

    .venv/bin/python scripts/letta_sdk_tests.py LETTA_CHECKOUT [--tag 0.16.8] [pytest args...]

Takes tests/sdk/{conftest,agents_test,tools_test,blocks_test}.py and tests/test_sdk_client.py from
a git checkout of letta-ai/letta at the tag, into a temporary directory, with the least shimming
that lets them import without Letta's server installed: one constant from letta.constants, a
stand-in for `letta.config` / `letta.server.server` (the fixtures that start Letta's own server
fail instead), and `letta_client.types.tool.BaseTool`, which letta-client 1.12.1 no longer has.
Then it starts an OpenAI-compatible stand-in that answers every request in text, and `memos serve`
on a free port over a fresh MEMOS_HOME, and runs pytest there with pytest-order (the tests need
it: `pip install pytest-order` first). Nothing here is part of memos's own suite.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FILES = {"tests/sdk/conftest.py": "conftest.py", "tests/sdk/agents_test.py": "agents_test.py",
         "tests/sdk/tools_test.py": "tools_test.py", "tests/sdk/blocks_test.py": "blocks_test.py",
         "tests/test_sdk_client.py": "test_sdk_client.py"}
SHIMS = {
    "blocks_test.py": ("from letta.constants import CORE_MEMORY_BLOCK_CHAR_LIMIT",
                       "CORE_MEMORY_BLOCK_CHAR_LIMIT = 100_000  # letta/constants.py at 0.16.8"),
    "test_sdk_client.py": ("from letta_client.types.tool import BaseTool",
                           "from pydantic import BaseModel as BaseTool  # gone from letta-client 1.12.1"),
}
STAND_INS = {
    "letta/__init__.py": "",
    "letta/config.py": "class LettaConfig:\n    @classmethod\n    def load(cls):\n"
                       "        raise RuntimeError('no Letta server here: this run drives memos serve')\n",
    "letta/server/__init__.py": "",
    "letta/server/server.py": "class SyncServer:\n    def __init__(self):\n"
                              "        raise RuntimeError('no Letta server here: this run drives memos serve')\n",
    "tests/__init__.py": "",
    "tests/utils.py": "def wait_for_server(url, timeout=60):\n    return None\n",
}


class TextOnly(BaseHTTPRequestHandler):
    """Chat completions that always answer "OK, noted." (streamed or not)."""

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self._json({"data": [{"id": "gpt-4o-mini", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        usage = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
        common = {"id": "c", "created": int(time.time()), "model": request.get("model")}
        if not request.get("stream"):
            self._json({**common, "object": "chat.completion", "usage": usage, "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "OK, noted."}, "finish_reason": "stop"}]})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in ({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "OK, noted."}}]},
                      {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}):
            self.wfile.write(f"data: {json.dumps({**common, 'object': 'chat.completion.chunk', **chunk})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    checkout, rest = Path(sys.argv[1]), sys.argv[2:]
    tag = "0.16.8"
    if rest[:1] == ["--tag"]:
        tag, rest = rest[1], rest[2:]
    work = Path(tempfile.mkdtemp(prefix="letta-sdk-"))
    for source, target in FILES.items():
        text = subprocess.run(["git", "-C", str(checkout), "show", f"{tag}:{source}"], capture_output=True,
                              text=True, check=True).stdout
        old, new = SHIMS.get(target, ("", ""))
        (work / target).write_text(text.replace(old, new) if old else text)
    for name, text in STAND_INS.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)

    llm = ThreadingHTTPServer(("127.0.0.1", 0), TextOnly)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    try:
        # Each group against a fresh server: the files count what they created in one shared server.
        groups = [rest] if rest else [["agents_test.py", "tools_test.py", "blocks_test.py"], ["test_sdk_client.py"]]
        codes = [run_group(work, llm, group) for group in groups]
    finally:
        llm.shutdown()
    return max(codes)


def run_group(work: Path, llm: ThreadingHTTPServer, args: list[str]) -> int:
    port = free_port()
    env = {**os.environ, "MEMOS_HOME": tempfile.mkdtemp(prefix="memos-home-"),
           "OPENAI_BASE_URL": f"http://127.0.0.1:{llm.server_address[1]}/v1", "OPENAI_API_KEY": "sk-stand-in"}
    memos = str(Path(sys.executable).parent / "memos")
    server = subprocess.Popen([memos, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        run_env = {**env, "LETTA_SERVER_URL": f"http://127.0.0.1:{port}",
                   "PYTHONPATH": os.pathsep.join([str(work), env.get("PYTHONPATH", "")])}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pytest_order",
                               *args], cwd=work, env=run_env).returncode
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
