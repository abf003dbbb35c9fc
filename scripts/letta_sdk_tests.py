"""Run Letta's own SDK and integration tests against `memos serve` (issues 21 and 31).

    .venv/bin/python scripts/letta_sdk_tests.py LETTA_CHECKOUT [--tag 0.16.8] [pytest args...]

Takes, from a git checkout of letta-ai/letta at the tag, into a temporary directory:
tests/sdk/{conftest,agents_test,tools_test,blocks_test}.py and tests/test_sdk_client.py, and the
integration tests for send_message v2, human-in-the-loop, client-side tools, conversations,
multi-agent and sleep-time agents, with the least shimming that lets them import without Letta's
server installed: one constant from letta.constants and Letta's example persona/human texts, a
stand-in for `letta.config` / `letta.server.server` and the LLM adapter one test patches (the
fixtures that start Letta's own server fail instead; patching Letta's internals does nothing),
`letta_client.types.tool.BaseTool` (gone from letta-client 1.12.1), a `server_url`/`client`
conftest as Letta's, and `retry_until_success` running once (the LLM here is deterministic).

Then it starts scripts/letta_rule_llm.py (an OpenAI-compatible LLM that does what each test's
prompt asks, by rules; embeddings too), and `memos serve` on a free port over a fresh MEMOS_HOME
whose config sends every model the tests name to it (OPENAI_BASE_URL, an alias for the Anthropic
model), and runs pytest there, each file group against its own server. pytest-asyncio and
pytest-order (the tests need them) are installed into bench/.cache/letta-sdk-plugins on first use,
outside the dev venv. Nothing here is part of memos's own suite.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "bench" / ".cache" / "letta-sdk-plugins"
FILES = {"tests/sdk/conftest.py": "conftest.py", "tests/sdk/agents_test.py": "agents_test.py",
         "tests/sdk/tools_test.py": "tools_test.py", "tests/sdk/blocks_test.py": "blocks_test.py",
         "tests/test_sdk_client.py": "test_sdk_client.py",
         "tests/model_settings/openai-gpt-4o-mini.json": "tests/model_settings/openai-gpt-4o-mini.json",
         "tests/data/test.txt": "tests/data/test.txt",  # the files an agent-file test uploads
         "tests/data/test.md": "tests/data/test.md"}
INTEGRATION = ["integration_test_send_message_v2.py", "integration_test_human_in_the_loop.py",
               "integration_test_client_side_tools.py", "integration_test_conversations_sdk.py",
               "integration_test_multi_agent.py", "integration_test_sleeptime_agent.py"]
FILES.update({f"tests/{name}": f"integration/{name}" for name in INTEGRATION})
EXAMPLE_TEXTS = {"letta/humans/examples": "letta/humans", "letta/personas/examples": "letta/personas"}
MODEL = "openai/gpt-4o-mini"  # LLM_CONFIG_FILE's model, and the default for agents that name none
ALIASES = {"anthropic/claude-sonnet-4-5-20250929": "openai/claude-sonnet-4-5-20250929",
           "anthropic/claude-haiku-4-5": "openai/claude-haiku-4-5"}
MODEL_SETTINGS = "openai-gpt-4o-mini.json"  # the send_message v2 tests' model (their LLM_CONFIG_FILE)
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
    "tests/helpers/__init__.py": "",
    "tests/helpers/utils.py": "def retry_until_success(max_attempts=10, sleep_time_seconds=4):\n"
                              "    return lambda func: func  # once: the scripted LLM answers the same every time\n",
    # The conversation tests skip their lock tests without Redis (Letta's lock); memos always
    # locks a conversation's turn (a file lock, or an advisory lock on PostgreSQL), so they run.
    # (and it always tracks runs).
    "letta/settings.py": "class _Settings:\n    redis_host = 'memos-turn-locks'\n    redis_port = 1\n"
                         "    track_agent_run = True\n\n\n"
                         "settings = _Settings()\n",
    "letta/constants.py": "DEFAULT_HUMAN = 'basic'\nDEFAULT_PERSONA = 'sam_pov'\n",
    "letta/utils.py": "from pathlib import Path\n\n_HERE = Path(__file__).parent\n\n\n"
                      "def get_human_text(name, enforce_limit=True):\n"
                      "    return (_HERE / 'humans' / f'{name}.txt').read_text().strip()\n\n\n"
                      "def get_persona_text(name, enforce_limit=True):\n"
                      "    return (_HERE / 'personas' / f'{name}.txt').read_text().strip()\n",
    "letta/adapters/__init__.py": "",
    "letta/adapters/simple_llm_stream_adapter.py": "class SimpleLLMStreamAdapter:  # Letta's internals: nothing to patch\n"
                                                   "    pass\n",
    "integration/conftest.py": "import os\n\nimport pytest\nfrom letta_client import Letta\n\n\n"
                               "@pytest.fixture(scope='session')\ndef server_url():\n"
                               "    return os.environ['LETTA_SERVER_URL']\n\n\n"
                               "@pytest.fixture(scope='session')\ndef client(server_url):\n"
                               "    return Letta(base_url=server_url)\n",
    # letta-client 1.12.1 dropped the helpers that upload a Python function's source as a tool;
    # the tests still call them. What older clients did: the function's (and its argument
    # model's) source, sent to tools.create / tools.upsert.
    "letta_client_shims.py": """import inspect
import textwrap

import pytest
from letta_client.resources.agents import AgentsResource
from letta_client.resources.tools import AsyncToolsResource, ToolsResource


def _request(func, args_schema, kwargs):
    source = textwrap.dedent(inspect.getsource(func))
    if args_schema is not None:
        source = textwrap.dedent(inspect.getsource(args_schema)) + "\\n\\n" + source
        kwargs = {**kwargs, "args_json_schema": args_schema.model_json_schema()}
    return {"source_code": source, **kwargs}


def _sync(name):
    def method(self, *, func, args_schema=None, **kwargs):
        return getattr(self, name)(**_request(func, args_schema, kwargs))
    return method


def _async(name):
    async def method(self, *, func, args_schema=None, **kwargs):
        return await getattr(self, name)(**_request(func, args_schema, kwargs))
    return method


for resource, make in ((ToolsResource, _sync), (AsyncToolsResource, _async)):
    resource.create_from_function = make("create")
    resource.upsert_from_function = make("upsert")


# Arguments of agents.create that letta-client 1.12.1 no longer names: sent as they were.
_create = AgentsResource.create


def _create_with_older_arguments(self, *args, include_multi_agent_tools=None, **kwargs):
    if include_multi_agent_tools is not None:
        kwargs["extra_body"] = {**(kwargs.get("extra_body") or {}),
                                "include_multi_agent_tools": include_multi_agent_tools}
    return _create(self, *args, **kwargs)


AgentsResource.create = _create_with_older_arguments


@pytest.fixture
def e2b_sandbox_mode(request):
    yield request.param  # memos runs every tool in its own local sandbox, E2B or not


@pytest.fixture
def disable_e2b_api_key():
    yield  # memos runs tools in its own local sandbox: there is no E2B to turn off
""",
    "pytest.ini": "[pytest]\nasyncio_mode = auto\n",
}


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

    def show(path: str) -> str:
        return subprocess.run(["git", "-C", str(checkout), "show", f"{tag}:{path}"], capture_output=True,
                              text=True, check=True).stdout

    for source, target in FILES.items():
        old, new = SHIMS.get(target, ("", ""))
        text = show(source)
        (work / target).parent.mkdir(parents=True, exist_ok=True)
        (work / target).write_text(text.replace(old, new) if old else text)
    for name, text in STAND_INS.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    for source, target in EXAMPLE_TEXTS.items():
        listed = subprocess.run(["git", "-C", str(checkout), "ls-tree", "--name-only", f"{tag}:{source}"],
                                capture_output=True, text=True, check=True).stdout.split()
        (work / target).mkdir(parents=True, exist_ok=True)
        for name in listed:
            (work / target / name).write_text(show(f"{source}/{name}"))
    if not PLUGINS.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(PLUGINS),
                        "pytest-asyncio", "pytest-order"], check=True)

    sys.path.insert(0, str(Path(__file__).parent))
    from letta_rule_llm import RuleLLM

    llm = ThreadingHTTPServer(("127.0.0.1", 0), RuleLLM)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    try:
        # Each group against a fresh server: the files count what they created in one shared server.
        groups = [rest] if rest else [["agents_test.py", "tools_test.py", "blocks_test.py"], ["test_sdk_client.py"],
                                      *[[f"integration/{name}"] for name in INTEGRATION]]
        results = [(group, run_group(work, llm, group)) for group in groups]
    finally:
        llm.shutdown()
    print(f"\n{'file':45} passed failed errors skipped   (logs in {work})")
    for group, counts in results:
        print(f"{' '.join(group)[:45]:45} {counts['passed']:6} {counts['failed']:6} {counts['errors']:6} "
              f"{counts['skipped']:7}")
    return 1 if any(counts["failed"] or counts["errors"] for _, counts in results) else 0


def run_group(work: Path, llm: ThreadingHTTPServer, args: list[str]) -> dict[str, int]:
    port = free_port()
    env = {**os.environ, "MEMOS_HOME": tempfile.mkdtemp(prefix="memos-home-"),
           "OPENAI_BASE_URL": f"http://127.0.0.1:{llm.server_address[1]}/v1", "OPENAI_API_KEY": "sk-stand-in"}
    memos = str(Path(sys.executable).parent / "memos")
    for key, value in {"default_model": MODEL, **{f"aliases.{a}": m for a, m in ALIASES.items()}}.items():
        subprocess.run([memos, "config", "set", key, value], env=env, check=True, capture_output=True)
    name = "-".join(Path(a).stem for a in args if not a.startswith("-"))[:80] or "run"
    server_log = open(work / f"{name}.serve.log", "w")
    server = subprocess.Popen([memos, "serve", "--port", str(port)], env=env, stderr=server_log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        run_env = {**env, "LETTA_SERVER_URL": f"http://127.0.0.1:{port}", "LLM_CONFIG_FILE": MODEL_SETTINGS,
                   "PYTHONPATH": os.pathsep.join([str(work), str(PLUGINS), env.get("PYTHONPATH", "")])}
        report = work / f"{name}.xml"
        with open(work / f"{name}.log", "w") as log:
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "--tb=short",
                            "-p", "letta_client_shims",
                            f"--junitxml={report}", *args], cwd=work, env=run_env, stdout=log, stderr=subprocess.STDOUT)
        return counted(report)
    finally:
        server.terminate()
        server.wait(timeout=20)
        server_log.close()


def counted(report: Path) -> dict[str, int]:
    """passed / failed / errors / skipped from pytest's JUnit XML, one outcome per test (a test
    that failed and then errored in teardown is failed); all zero if pytest wrote none."""
    import xml.etree.ElementTree as ElementTree

    rank = {"passed": 0, "skipped": 1, "errors": 2, "failed": 3}
    outcomes: dict[tuple[str, str], str] = {}
    if report.exists():
        for case in ElementTree.parse(report).getroot().iter("testcase"):
            found = {child.tag for child in case}
            outcome = ("failed" if "failure" in found else "errors" if "error" in found
                       else "skipped" if "skipped" in found else "passed")
            key = (case.get("classname", ""), case.get("name", ""))
            if rank[outcome] >= rank[outcomes.get(key, "passed")]:
                outcomes[key] = outcome
    return {kind: sum(1 for o in outcomes.values() if o == kind) for kind in rank}


if __name__ == "__main__":
    sys.exit(main())
