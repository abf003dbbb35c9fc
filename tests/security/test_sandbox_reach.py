"""What tool code can reach beyond files and TCP: Unix sockets, the host's uid and capabilities,
kernel interfaces the namespaces do not separate, and the sandbox's own result pipe.

Each test fails if the attempt gets through (on 6c4d22d a tool connected to a 0600 socket in
a root-only directory, and to PostgreSQL's socket, as uid 0)."""

from __future__ import annotations

import os
import platform
import pwd
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from memos.tools.sandbox import Limits, Sandbox
from tests.security.test_sandbox import tool

CONNECT_UNIX = """
try:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
except OSError as exc:
    return f"refused at socket(): {exc}"
try:
    client.connect(path)
    return "connected"
except OSError as exc:
    return f"refused at connect(): {exc}"
"""


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    jails = tmp_path / "jails"
    jails.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(jails))
    box = Sandbox(Limits(wall_seconds=10, cpu_seconds=5))
    yield box
    box.close()


def _listener(address: str | bytes) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(address)
    server.listen()
    server.setblocking(False)
    return server


def _accepted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
        return True
    except BlockingIOError:
        return False


def test_a_socket_in_a_private_directory_cannot_be_reached(sandbox: Sandbox, tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    path = private / "daemon.sock"
    server = _listener(str(path))
    path.chmod(0o600)  # only its owner (the user memos runs as, root here) may connect
    try:
        result = sandbox.call(tool("reach", CONNECT_UNIX, "path: str"), "reach", "reach", {"path": str(path)})
        assert result.ok, result
        assert result.value.startswith("refused"), result.value
        assert not _accepted(server)
    finally:
        server.close()


def test_an_abstract_socket_cannot_be_reached(sandbox: Sandbox) -> None:
    name = f"\0memos-test-{os.getpid()}-{time.monotonic_ns()}"
    server = _listener(name)
    try:
        result = sandbox.call(tool("reach", CONNECT_UNIX, "path: str"), "reach", "reach", {"path": name})
        assert result.ok and result.value.startswith("refused"), result
        assert not _accepted(server)
    finally:
        server.close()


def test_postgresql_socket_cannot_be_reached(sandbox: Sandbox, postgres_server) -> None:  # type: ignore[no-untyped-def]
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(postgres_server.get_uri())
    path = Path(str(info["host"])) / f".s.PGSQL.{info.get('port') or 5432}"
    assert path.is_socket(), path  # the test's own server, on its socket: reachable from here
    socket.socket(socket.AF_UNIX).connect(str(path))
    # Open the way as a packaged PostgreSQL does (/var/run/postgresql is world-traversable, its
    # socket 0777): the embedded server's own directory is private to its user.
    before = path.parent.stat().st_mode & 0o777
    path.parent.chmod(0o755)
    try:
        result = sandbox.call(tool("reach", CONNECT_UNIX, "path: str"), "reach", "reach", {"path": str(path)})
    finally:
        path.parent.chmod(before)
    assert result.ok and result.value.startswith("refused"), result


def test_ordinary_socket_use_still_works(sandbox: Sandbox) -> None:
    body = """
    left, right = socket.socketpair()  # within the process: reaches nothing outside
    left.sendall(b"ping")
    return right.recv(4).decode()
    """
    result = sandbox.call(tool("pair", body), "pair", "pair", {})
    assert result.ok and result.value == "ping", result


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the system call numbers below are x86-64's")
def test_kernel_interfaces_outside_the_namespaces_are_refused(sandbox: Sandbox) -> None:
    body = """
    import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    outcomes = {}
    for name, number, args in [("io_uring_setup", 425, (1, params)), ("keyctl", 250, (0, -4, 0)),
                               ("unshare", 272, (0x10000000,)), ("bpf", 321, (0, 0, 0))]:
        done = libc.syscall(number, *args)
        outcomes[name] = "allowed" if done >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    return outcomes
    """
    result = sandbox.call(tool("kernel", body), "kernel", "kernel", {})
    assert result.ok, result
    assert result.value == {"io_uring_setup": "EPERM", "keyctl": "EPERM", "unshare": "EPERM", "bpf": "EPERM"}


def test_the_worker_has_no_capability_on_the_host(sandbox: Sandbox) -> None:
    layers = sandbox.info()["layers"]
    assert layers["host_capabilities"] == "none"
    assert layers["syscall_filter"] is True
    if os.geteuid() == 0:  # root's uid is kept only where the Python cannot be read by another user
        assert layers["uid"] != 0 or layers["uid_note"].startswith("kept uid 0: "), layers


def _worker_uids(jails: Path) -> list[int]:
    uids = []
    for entry in Path("/proc").iterdir():
        try:
            if str(jails) in (entry / "cmdline").read_bytes().decode(errors="replace") and \
                    "sandbox_worker" in (entry / "cmdline").read_bytes().decode(errors="replace"):
                status = (entry / "status").read_text()
                uids.append(int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]))
        except (OSError, StopIteration, ValueError):
            continue
    return uids


@pytest.mark.skipif(os.geteuid() != 0, reason="memos drops to another uid only when it runs as root")
def test_as_root_workers_run_as_nobody_on_a_python_others_can_read(monkeypatch: pytest.MonkeyPatch) -> None:
    system_python = shutil.which("python3", path="/usr/bin")
    if system_python is None:
        pytest.skip("no system Python in /usr/bin")
    jails = Path(tempfile.mkdtemp(prefix="memos-test-jails-"))
    jails.chmod(0o711)  # reachable by the worker's uid, as /tmp is
    monkeypatch.setenv("MEMOS_SANDBOX_PYTHON", system_python)
    monkeypatch.setattr(tempfile, "tempdir", str(jails))
    nobody = pwd.getpwnam("nobody").pw_uid
    box = Sandbox(Limits(wall_seconds=15, cpu_seconds=5))
    try:
        layers = box.info()["layers"]
        assert (layers["uid"], layers["host_capabilities"], layers["uid_note"]) == (nobody, "none", "")
        # Seen from the host while a tool runs: every process of the worker has nobody's uid.
        seen: list[int] = []

        def watch() -> None:
            deadline = time.monotonic() + 10
            while not seen and time.monotonic() < deadline:
                seen.extend(_worker_uids(jails))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        result = box.call(tool("nap", "time.sleep(3)\nreturn 'rested'"), "nap", "nap", {})
        watcher.join()
        assert result.ok and result.value == "rested", result
        assert seen and set(seen) == {nobody}, seen
    finally:
        box.close()
        shutil.rmtree(jails, ignore_errors=True)


def test_lines_a_tool_writes_to_the_result_pipe_do_not_break_or_replace_the_result(sandbox: Sandbox) -> None:
    body = """
    for fd in range(3, 64):
        try:
            os.write(fd, b'{not json}\\n{"ready": 1}\\n{"ok": tru')
        except OSError:
            pass
    return "the real result"
    """
    result = sandbox.call(tool("forge", body), "forge", "forge", {})
    assert result.ok, result
    assert result.value == "the real result"
    assert result.layers.get("syscall_filter") is True  # the worker's own first line, not the tool's


@pytest.mark.parametrize("name", ["pytest", "_pytest", "pluggy", "json", "os", "conftest"])
def test_a_tool_cannot_take_the_name_of_a_module_the_sandbox_uses(name: str) -> None:
    from memos.errors import InvalidInput
    from memos.tools.repo import check_tool_name

    with pytest.raises(InvalidInput, match="module the sandbox uses"):
        check_tool_name(name)
    assert check_tool_name("shout") == "shout"


def test_a_library_tool_named_pytest_is_refused_and_tests_still_run(memos) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from memos.core.workspace import Workspace
    from memos.server.app import create_app

    ws = Workspace()
    with TestClient(create_app(ws), base_url="http://127.0.0.1:8283") as http:
        made = http.post("/v1/tools/", json={"source_code": "def pytest(x: str) -> str:\n    \"\"\"Echo.\n\n"
                                                            "    Args:\n        x: text\n    \"\"\"\n    return x\n"})
        assert made.status_code in (400, 422), made.text
        assert "module the sandbox uses" in made.text
    ws.close()
    assert memos("agents", "create", "ada").code == 0
    refused = memos("tools", "new", "pytest")
    assert refused.code == 1 and refused.err.count("\n") == 1 and "module the sandbox uses" in refused.err
    assert memos("tools", "new", "shout").code == 0
    tested = memos("tools", "test")
    assert tested.code == 0, tested.out + tested.err
