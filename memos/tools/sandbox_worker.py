"""The sandboxed side of a custom tool call. Run as a script by memos/tools/sandbox.py.

Standard library only (it starts fast and imports nothing of memos's state). In
order: leave the parent's network, user and PID namespaces; set resource limits;
lock the filesystem with Landlock; report which layers hold; then read ONE job
from stdin, run it and write the result to the result pipe. One process per
call: nothing a tool does survives into the next call.

Protocol on the result pipe (fd given in the config): JSON lines, first
``{"ready": {...layers}}``, then ``{"ok": true, "value": ...}`` or
``{"ok": false, "error": KIND, "message": ...}``.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import json
import os
import resource
import select
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG = 1


def _unshare(libc: ctypes.CDLL) -> dict[str, bool]:
    # Namespaces one group at a time, strongest first, so a kernel that refuses one still gives the rest.
    for flags, layers in [(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID, ("user", "network", "pid")),
                          (CLONE_NEWUSER | CLONE_NEWNET, ("user", "network")),
                          (CLONE_NEWNET, ("network",))]:
        if libc.unshare(flags) == 0:
            return {name: True for name in layers}
    return {}


def _supervise(libc: ctypes.CDLL, life_fd: int | None) -> None:
    """Fork; the child goes on to run the job (as PID 1 of the new PID namespace, if one was
    made: when it exits, the kernel kills every process it left behind). This process waits,
    passes the exit status on, and kills its whole process group if memos dies first: the
    write end of ``life_fd`` is held by the memos process only, so EOF there means it is gone,
    even by SIGKILL. (No thread for this: a threaded process cannot unshare namespaces.)"""
    child = os.fork()
    if child == 0:
        libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # die with this waiting parent (killed on timeout)
        if life_fd is not None:
            os.close(life_fd)
        return
    try:
        exited: int | None = os.pidfd_open(child)  # readable once the child exits: no polling delay
    except (AttributeError, OSError):
        exited = None
    watched = [fd for fd in (life_fd, exited) if fd is not None]
    while True:
        readable, _, _ = select.select(watched, [], [], None if exited is not None else 0.05)
        if life_fd in readable and not os.read(life_fd, 1):
            os.killpg(os.getpgrp(), signal.SIGKILL)
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            break
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _limit(limits: dict[str, int], root: bool) -> list[str]:
    applied = []
    for name, key in [("RLIMIT_CPU", "cpu_seconds"), ("RLIMIT_AS", "memory_bytes"), ("RLIMIT_FSIZE", "file_bytes"),
                      ("RLIMIT_NOFILE", "open_files"), ("RLIMIT_NPROC", "processes"), ("RLIMIT_CORE", "core")]:
        value = limits.get(key, 0 if key == "core" else None)
        if value is None:
            continue
        try:
            resource.setrlimit(getattr(resource, name), (value, value))
            applied.append(key)
        except (ValueError, OSError):
            pass
    if root:  # RLIMIT_NPROC does not bind uid 0; the parent's pids cgroup does that job
        applied = [a for a in applied if a != "processes"]
    return applied


class _Result:
    def __init__(self, fd: int) -> None:
        self._out = os.fdopen(fd, "w", encoding="utf-8", errors="surrogatepass")

    def send(self, payload: dict[str, Any]) -> None:
        # Tool code can write to this pipe too (its fd is no secret): the line starts on a line of
        # its own, so whatever the tool left unfinished cannot run into it. The parent reads the
        # last well-formed line of each kind.
        self._out.write("\n" + json.dumps(payload, default=repr) + "\n")
        self._out.flush()


def _write_files(code_dir: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        target = code_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _line_in(exc: BaseException, filename: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename and exc.filename.endswith(filename):
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename.endswith(filename):
            line = lineno
    return line


# Letta's tool sources often name typing's generics, and pydantic's BaseModel and Field for an
# argument model defined above the function, without importing them (Letta reads the annotations
# without running the code, and its sandbox imports them); giving tool code these names lets such
# a source load here as it does there. Names a tool defines or imports itself take precedence.
TYPING_NAMES = ("Any", "Dict", "List", "Literal", "Optional", "Union")
PYDANTIC_NAMES = ("BaseModel", "Field")


def _letta_names(sources: list[str]) -> None:
    import builtins
    import typing

    for name in TYPING_NAMES:
        if not hasattr(builtins, name):
            setattr(builtins, name, getattr(typing, name))
    if any(name in source for source in sources for name in PYDANTIC_NAMES):  # pydantic costs ~0.1 s to import
        import pydantic

        for name in PYDANTIC_NAMES:
            if not hasattr(builtins, name):
                setattr(builtins, name, getattr(pydantic, name))


def _load_by_path(name: str, path: str, compile_flags: int = 0) -> Any:
    """The module in the file at ``path``, as ``name``; ``compile_flags``: __future__ features
    its code is compiled with (as though it began with their imports)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up while a class is built
    if compile_flags:
        code = compile(Path(path).read_text(encoding="utf-8"), path, "exec", flags=compile_flags, dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - the tool's own code, in the sandbox, as import would run it
    else:
        spec.loader.exec_module(module)
    return module


def _describe(job: dict[str, Any], registry_path: str) -> dict[str, Any]:
    registry = _load_by_path("memos_tool_registry", registry_path)
    tools: list[dict[str, Any]] = []
    problems: list[dict[str, Any]] = []
    for module_name in job["modules"]:
        filename = f"{module_name}.py"
        try:
            module = _import_tool(module_name)
            function = getattr(module, module_name, None)
            if not callable(function):
                problems.append({"file": filename, "line": None,
                                 "error": f"defines no function named {module_name} (one tool per file, named as the file)"})
                continue
            line = function.__code__.co_firstlineno if hasattr(function, "__code__") else None
            given = _given_schema(module_name)
            if given is not None:  # a schema that came with the code (a Letta client's json_schema)
                doc = registry.parse_docstring(function.__doc__ or "")[0] if function.__doc__ else ""
                tools.append({"name": module_name, "description": given.get("description") or doc,
                              "parameters": given["parameters"], "file": filename, "line": line})
                continue
            spec = registry.build_spec(function, module_name)
            tools.append({"name": spec.name, "description": spec.description, "parameters": spec.parameters,
                          "file": filename, "line": line})
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, the other tools still load
            problems.append({"file": filename, "line": _line_in(exc, filename),
                             "error": f"{type(exc).__name__}: {exc}"})
    return {"tools": tools, "problems": problems}


def _import_tool(module_name: str) -> Any:
    """The tool's module. One that came with its schema (a Letta client's json_schema or
    args_json_schema) is compiled with postponed annotations: its type hints are never read, and
    Letta's sources often annotate with classes they do not include (Letta never runs them to
    build a schema)."""
    if not Path(f"{module_name}.schema.json").exists():
        return importlib.import_module(module_name)
    if module_name in sys.modules:
        return sys.modules[module_name]
    import __future__

    return _load_by_path(module_name, str(Path(f"{module_name}.py").resolve()), __future__.annotations.compiler_flag)


def _given_schema(module_name: str) -> dict[str, Any] | None:
    """``<tool>.schema.json`` beside the tool: its JSON schema as given, when the code's own type
    hints cannot say it (Letta takes a client's json_schema for such sources)."""
    path = Path(f"{module_name}.schema.json")
    if not path.exists():
        return None
    given = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(given, dict) or not isinstance(given.get("parameters"), dict):
        raise ValueError(f"{path}: a JSON schema needs a 'parameters' object")
    return given


def _pytest(job: dict[str, Any]) -> dict[str, Any]:
    import pytest

    outcomes: list[dict[str, Any]] = []

    class Collect:
        def pytest_runtest_logreport(self, report: Any) -> None:
            if report.when == "call" or report.outcome != "passed":
                outcomes.append({"test": report.nodeid, "when": report.when, "outcome": report.outcome,
                                 "duration_ms": round(report.duration * 1000, 1)})

    args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--rootdir", ".", *job.get("args", [])]
    code = pytest.main(args, plugins=[Collect()])
    failed = [o for o in outcomes if o["outcome"] == "failed"]
    return {"exit_code": int(code), "passed": sum(o["outcome"] == "passed" for o in outcomes),
            "failed": len(failed), "skipped": sum(o["outcome"] == "skipped" for o in outcomes), "tests": outcomes}


def _call(job: dict[str, Any]) -> Any:
    module = _import_tool(job["module"])
    function = getattr(module, job["function"])
    return function(**job.get("args", {}))


def _host_capabilities() -> str:
    """This process's effective capabilities as the host sees them, before any namespace."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return "none" if int(line.split()[1], 16) == 0 else line.split()[1]
    except OSError:
        pass
    return "unknown"


def main() -> None:
    config = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    identity = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
                "host_capabilities": _host_capabilities(), "uid_note": config.get("uid_note", "")}
    layers: dict[str, Any] = _unshare(libc) if config.get("namespaces", True) else {}
    if layers.get("user"):  # a process in a user namespace of its own has no capability on the host
        identity["host_capabilities"] = "none"
    layers.update(identity)
    _supervise(libc, config.get("life_fd"))
    result = _Result(config["result_fd"])
    jail = Path(config["jail"])
    os.chdir(jail)
    layers["rlimits"] = _limit(config["limits"], root=config.get("root", False))

    landlock = _load_by_path("memos_landlock", config["landlock_path"])  # memos itself is not importable here
    applied = landlock.restrict(config["read_paths"], [str(jail), "/dev/null"])
    layers.update(landlock_abi=applied.abi, filesystem=applied.filesystem, landlock_network=applied.network,
                  ipc_scope=applied.ipc_scope)
    seccomp = _load_by_path("memos_seccomp", config["seccomp_path"])
    refused = seccomp.install()
    layers.update(syscall_filter=not refused, syscall_filter_note=refused)
    result.send({"ready": layers})

    job = json.loads(sys.stdin.readline())
    code_dir = jail / "code"
    try:
        _write_files(code_dir, job.get("files", {}))
        os.chdir(code_dir)
        sys.path.insert(0, str(code_dir))
        _letta_names([text for text in job.get("files", {}).values() if isinstance(text, str)])
        if job["kind"] == "describe":
            value = _describe(job, config["registry_path"])
        elif job["kind"] == "pytest":
            value = _pytest(job)
        else:
            value = _call(job)
        try:
            result.send({"ok": True, "value": value})
        except (TypeError, ValueError):
            result.send({"ok": True, "value": repr(value)})
    except MemoryError:
        result.send({"ok": False, "error": "memory", "message": "the tool ran out of memory (address-space limit)"})
    except RecursionError as exc:
        result.send({"ok": False, "error": "exception", "message": f"RecursionError: {exc}"})
    except BaseException as exc:  # noqa: BLE001 - the tool's own failure, reported to the agent
        frames = traceback.format_exception(exc)
        result.send({"ok": False, "error": "exception", "message": f"{type(exc).__name__}: {exc}",
                     "traceback": "".join(frames[-6:])})
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit or finalizers from tool code


if __name__ == "__main__":
    main()
