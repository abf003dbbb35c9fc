"""The sandbox against real escape attempts: each test fails if the attempt gets through."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from memos.tools.sandbox import Limits, Sandbox
from tests.conftest import command_lines


def tool(name: str, body: str, params: str = "") -> dict[str, str]:
    source = f"def {name}({params}):\n    \"\"\"A test tool.\"\"\"\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return {f"{name}.py": "import os, sys, socket, time\n\n" + source}


@pytest.fixture
def jail_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "jails"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def sandbox(jail_root: Path) -> Sandbox:
    box = Sandbox(Limits(wall_seconds=5, cpu_seconds=3, output_bytes=1 << 20))
    yield box
    box.close()


def workers_alive(jail_root: Path) -> list[str]:
    """This test's sandbox workers still running (not those of tests running beside it)."""
    return [line for line in command_lines() if "sandbox_worker.py" in line and str(jail_root) in line]


def workers_left(jail_root: Path, seconds: float = 5) -> list[str]:
    """The workers still running after a short wait: a process killed with SIGKILL is gone only
    once the kernel has run it again, which on a busy machine takes a moment (it runs no code)."""
    deadline = time.monotonic() + seconds
    while workers_alive(jail_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    return workers_alive(jail_root)


def test_a_tool_returns_json_and_its_output_is_captured(sandbox: Sandbox, jail_root: Path) -> None:
    result = sandbox.call(tool("add", "print('adding'); return {'sum': a + b}", "a: int, b: int"), "add", "add",
                          {"a": 2, "b": 3})
    assert result.ok, result
    assert result.value == {"sum": 5}
    assert result.stdout == "adding\n"
    assert list(jail_root.iterdir()) == []  # the jail is gone


def test_an_exception_comes_back_as_a_tool_error(sandbox: Sandbox) -> None:
    result = sandbox.call(tool("boom", "raise ValueError('no such city')"), "boom", "boom", {})
    assert not result.ok and result.error == "exception"
    assert result.message == "ValueError: no such city"
    assert "boom.py" in result.stderr  # the traceback points at the tool's file
    assert result.for_agent().startswith("Error: ValueError: no such city")


def test_network_connections_fail(sandbox: Sandbox) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    body = f"""
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
        return "connected"
    except OSError as exc:
        return f"refused: {{exc}}"
    """
    result = sandbox.call(tool("net", body), "net", "net", {})
    server.setblocking(False)
    with pytest.raises(BlockingIOError):  # no connection is waiting to be accepted
        server.accept()
    server.close()
    assert result.ok, result
    assert result.value.startswith("refused"), result.value


def test_writes_outside_the_jail_fail(sandbox: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "escaped.txt"
    body = f"""
    results = []
    for path in [{str(target)!r}, "/tmp/memos-escaped.txt", "../../sibling.txt"]:
        try:
            open(path, "w").write("x")
            results.append("wrote " + path)
        except OSError as exc:
            results.append(type(exc).__name__)
    open("inside.txt", "w").write("fine")  # the jail itself is writable
    return results
    """
    result = sandbox.call(tool("escape", body), "escape", "escape", {})
    assert result.ok, result
    assert not any(r.startswith("wrote") for r in result.value), result.value
    assert not target.exists() and not Path("/tmp/memos-escaped.txt").exists()
    assert not (tmp_path / "jails" / "sibling.txt").exists()  # beside the jail is outside it too


def test_the_memos_home_and_database_cannot_be_read(sandbox: Sandbox, tmp_path: Path) -> None:
    home = Path(os.environ["MEMOS_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "memos.duckdb").write_text("SECRET-ROWS")
    (home / "config.toml").write_text("SECRET-CONFIG")
    body = f"""
    found = []
    for path in [{str(home / 'memos.duckdb')!r}, {str(home / 'config.toml')!r}]:
        try:
            found.append(open(path).read())
        except OSError as exc:
            found.append(type(exc).__name__)
    try:
        found.append(os.listdir({str(home)!r}))
    except OSError as exc:
        found.append(type(exc).__name__)
    return found
    """
    result = sandbox.call(tool("peek", body), "peek", "peek", {})
    assert result.ok, result
    assert "SECRET" not in str(result.value) and "memos.duckdb" not in str(result.value)


def test_api_keys_and_memos_variables_are_not_in_the_environment(sandbox: Sandbox,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    result = sandbox.call(tool("env", "return dict(os.environ)"), "env", "env", {})
    assert result.ok, result
    assert "secret" not in str(result.value)
    assert not any(key.startswith("MEMOS") or key.endswith("_KEY") for key in result.value)


def test_a_fork_bomb_is_capped_and_leaves_nothing_behind(sandbox: Sandbox, jail_root: Path) -> None:
    body = """
    started = 0
    for _ in range(1000):
        try:
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            started += 1
        except OSError:
            break
    return started
    """
    result = sandbox.call(tool("bomb", body), "bomb", "bomb", {})
    assert result.ok, result
    assert result.value < sandbox.limits.processes
    assert workers_left(jail_root) == []  # every forked child died with the call


def test_allocating_4_gb_fails_with_a_memory_error(sandbox: Sandbox) -> None:
    result = sandbox.call(tool("hog", "block = bytearray(4 * 1024 ** 3)\nreturn len(block)"), "hog", "hog", {})
    assert not result.ok
    assert result.error == "memory", result


def test_an_endless_loop_is_stopped(jail_root: Path) -> None:
    with Sandbox(Limits(wall_seconds=2, cpu_seconds=1)) as box:
        result = box.call(tool("spin", "while True:\n    pass"), "spin", "spin", {})
        sleeper = box.call(tool("nap", "time.sleep(60)"), "nap", "nap", {})
    assert not result.ok and result.error in ("cpu", "timeout"), result
    assert result.duration_ms < 5_000
    assert not sleeper.ok and sleeper.error == "timeout", sleeper  # wall time catches what CPU time cannot
    assert workers_left(jail_root) == []


def test_printing_100_mb_is_cut_off(sandbox: Sandbox) -> None:
    body = "chunk = 'x' * (1 << 20)\nfor _ in range(100):\n    sys.stdout.write(chunk)\nreturn 'done'"
    result = sandbox.call(tool("flood", body), "flood", "flood", {})
    assert not result.ok and result.error == "output", result
    assert len(result.stdout) <= sandbox.limits.output_bytes


def test_a_huge_return_value_is_cut_off(sandbox: Sandbox) -> None:
    result = sandbox.call(tool("big", "return 'y' * (8 << 20)"), "big", "big", {})
    assert not result.ok and result.error == "output", result


def test_a_warm_pool_serves_calls_and_stops_cleanly(jail_root: Path) -> None:
    box = Sandbox(warm=2)
    values = [box.call(tool("echo", "return text", "text: str"), "echo", "echo", {"text": str(i)}).value
              for i in range(5)]
    assert workers_alive(jail_root)  # the warm ones wait for the next call (and are seen here)
    box.close()
    assert values == ["0", "1", "2", "3", "4"]
    assert workers_left(jail_root) == []
    assert list(jail_root.iterdir()) == []


def test_sandbox_info_reports_the_layers(sandbox: Sandbox) -> None:
    info = sandbox.info()
    assert info["ok"]
    assert info["layers"]["filesystem"] is True or info["layers"]["landlock_abi"] == 0
    assert "rlimits" in info["layers"] and "memory_bytes" in info["layers"]["rlimits"]


def test_system_secrets_cannot_be_read(sandbox: Sandbox) -> None:
    # memos often runs as root in containers: then only Landlock stands between a tool and these.
    body = """
    outcomes = {}
    for path in ["/etc/shadow", "/etc/ssh", "/root", "/etc/passwd-", "/etc/sudoers"]:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                open(path, "rb").read(1)
            outcomes[path] = "read"
        except FileNotFoundError:
            outcomes[path] = "missing"
        except OSError:
            outcomes[path] = "denied"
    import datetime, ssl
    ssl.create_default_context()  # what ordinary tools need of /etc still works
    outcomes["time"] = datetime.datetime.now().astimezone().isoformat()
    return outcomes
    """
    result = sandbox.call(tool("peek", body), "peek", "peek", {})
    assert result.ok, result
    seen = result.value
    for path in ["/etc/shadow", "/etc/ssh", "/root", "/etc/passwd-", "/etc/sudoers"]:
        if os.path.exists(path):
            assert seen[path] == "denied", (path, seen)


def test_workers_die_with_memos_and_their_jails_are_swept(jail_root: Path, tmp_path: Path) -> None:
    """SIGKILL of the process that owns a sandbox: its running tool stops at once (not at its
    wall limit), and the next sandbox in any process removes the jail left behind."""
    import signal
    import sys

    script = tmp_path / "owner.py"
    script.write_text(textwrap.dedent(f"""
        import tempfile
        tempfile.tempdir = {str(jail_root)!r}
        from memos.tools.sandbox import Limits, Sandbox
        box = Sandbox(Limits(wall_seconds=60, cpu_seconds=60))
        print("calling", flush=True)
        box.call({{"nap.py": "import time\\ndef nap():\\n    time.sleep(50)\\n"}}, "nap", "nap", {{}})
    """))
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None and owner.stdout.readline() == "calling\n"
    deadline = time.monotonic() + 30
    while not workers_alive(jail_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers_alive(jail_root), "the tool never started"
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    deadline = time.monotonic() + 10
    while workers_alive(jail_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers_alive(jail_root) == []  # gone within seconds, not after the tool's 50 s
    assert [p.name for p in jail_root.iterdir()], "the killed owner could not remove its jail"
    # The next process to start a sandbox sweeps the jails of dead owners.
    script.write_text(textwrap.dedent(f"""
        import tempfile
        tempfile.tempdir = {str(jail_root)!r}
        from memos.tools.sandbox import Limits, Sandbox
        with Sandbox(Limits(wall_seconds=5)) as box:
            assert box.call({{"ok.py": "def ok():\\n    return 1\\n"}}, "ok", "ok", {{}}).ok
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=60)
    assert list(jail_root.iterdir()) == []


def test_pids_groups_of_dead_owners_are_swept_and_a_reused_name_still_caps() -> None:
    import subprocess

    from memos.tools.sandbox import CGROUP_PREFIX, PidsCgroup

    cgroups = PidsCgroup()
    if cgroups.base is None:
        pytest.skip(f"no pids cgroup here: {cgroups.reason}")
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process has now: the owner of a group left by a kill -9
    stale = cgroups.base / f"{CGROUP_PREFIX}{gone.pid}-1"
    stale.mkdir()
    cgroups.sweep()
    assert not stale.exists()

    child = subprocess.Popen(["sleep", "30"])
    try:
        name = cgroups.base / f"{CGROUP_PREFIX}{os.getpid()}-{child.pid}"
        name.mkdir()  # the same owner and worker pids as a group someone left behind
        group = cgroups.create(child.pid, 5)
        assert group == name and (group / "pids.max").read_text().strip() == "5"
        assert str(child.pid) in (group / "cgroup.procs").read_text().split()
    finally:
        child.kill()
        child.wait()
        PidsCgroup.remove(name)
