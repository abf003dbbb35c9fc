"""Run agent-written tool code in a separate, locked-down process.

Layers, strongest the kernel allows (``memos tools sandbox-info`` says which hold):
- namespaces: a new user, network (no interfaces but a down loopback) and PID
  namespace, so no connection leaves and every process the tool starts dies with it;
- Landlock: read access to the Python installation only, writes only inside a
  fresh temporary jail (the memos home, the database and the user's files are
  out of reach); TCP denied as a second line where namespaces are missing;
- resource limits: CPU time, address space, file size, open files, and process
  count (a pids cgroup when running as root, where RLIMIT_NPROC does not bind);
- the parent enforces wall time and an output cap, and kills the process group;
- a seccomp filter: no Unix socket can be made (Landlock does not cover connecting to
  a socket file), nor io_uring, keyrings, ptrace and a few other calls (seccomp.py);
- an unprivileged uid: memos running as root starts workers as ``nobody`` where the
  Python installation is readable by it (else root's uid is kept, with no capability:
  the worker has a user namespace of its own), see ``worker_identity``;
- a scrubbed environment: no API keys, no MEMOS_HOME, HOME and TMPDIR in the jail.

Each call gets a fresh process. Workers are started ahead of time (a warm pool)
so a call costs a pipe round trip rather than an interpreter start.
"""

from __future__ import annotations

import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

HERE = Path(__file__).resolve().parent
WORKER = HERE / "sandbox_worker.py"
READY_TIMEOUT = 10.0
# Only what Python and ordinary tool code read of /etc: never all of it (/etc/shadow, /etc/ssh
# and friends are readable by root, which memos often is in containers).
ETC_READ_PATHS = ["/etc/ld.so.cache", "/etc/localtime", "/etc/ssl/certs", "/etc/ssl/openssl.cnf",
                  "/etc/ca-certificates.conf", "/etc/mime.types", "/etc/nsswitch.conf", "/etc/host.conf",
                  "/etc/hosts", "/etc/protocols", "/etc/services", "/etc/timezone", "/etc/os-release"]
SYSTEM_READ_PATHS = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", *ETC_READ_PATHS, "/dev/urandom",
                     "/dev/random", "/dev/zero"]
JAIL_PREFIX = "memos-jail-"
ErrorKind = Literal["exception", "timeout", "cpu", "memory", "output", "killed", "sandbox"]


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30  # address space: 1 GiB
    output_bytes: int = 1 << 20  # stdout + stderr, and separately the return value
    file_bytes: int = 64 << 20
    processes: int = 64
    open_files: int = 256

    @classmethod
    def from_config(cls, values: dict[str, Any]) -> Limits:
        known = {k: type(getattr(cls(), k))(v) for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class SandboxResult:
    ok: bool
    value: Any = None
    error: ErrorKind | None = None
    message: str = ""
    stdout: str = ""
    stderr: str = ""
    duration_ms: float = 0.0
    layers: dict[str, Any] = field(default_factory=dict)

    def for_agent(self) -> str:
        """What the model reads as the tool's return."""
        if self.ok:
            return self.value if isinstance(self.value, str) else json.dumps(self.value, default=repr)
        text = f"Error: {self.message}"
        if self.stderr.strip():
            text += f"\nstderr:\n{self.stderr[-2000:]}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scrubbed_env(jail: str) -> dict[str, str]:
    # Built from nothing rather than filtered: keys, tokens and MEMOS_* never reach tool code.
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": jail, "TMPDIR": jail, "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}


SANDBOX_PYTHON_VARIABLE = "MEMOS_SANDBOX_PYTHON"
# What another interpreter reads: its prefixes and library directories (as below for our own).
_PATHS_SCRIPT = ("import json, sys, sysconfig; from pathlib import Path; "
                 "p = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, "
                 "str(Path(sys.executable).resolve().parent.parent)}; "
                 "p.update(sysconfig.get_paths()[k] for k in ('stdlib', 'platstdlib', 'purelib', 'platlib')); "
                 "print(json.dumps(sorted(p)))")
OWN_FILES = [str(HERE / "landlock.py"), str(HERE / "registry.py"), str(HERE / "seccomp.py")]


def worker_python() -> str:
    """The interpreter that runs tool code: memos's own, or MEMOS_SANDBOX_PYTHON (a Python that
    other users can read lets a memos running as root start workers as nobody)."""
    return os.environ.get(SANDBOX_PYTHON_VARIABLE) or sys.executable


@functools.lru_cache(maxsize=4)
def _interpreter_paths(python: str) -> tuple[str, ...]:
    if python == sys.executable:
        import sysconfig

        paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 str(Path(sys.executable).resolve().parent.parent)}
        paths.update(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))
        return tuple(sorted(paths))
    try:
        done = subprocess.run([python, "-I", "-c", _PATHS_SCRIPT], capture_output=True, timeout=30, check=True)
        return tuple(json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        from memos.errors import ConfigError

        raise ConfigError(f"{SANDBOX_PYTHON_VARIABLE}={python} cannot run: {exc}",
                          "point it at a Python 3.11 interpreter, or unset it") from exc


def _python_read_paths() -> list[str]:
    return list(_interpreter_paths(worker_python())) + OWN_FILES


CGROUP_PREFIX = "memos-sandbox-"  # then the owner's pid and the worker's


class PidsCgroup:
    """A pids cgroup per worker (v2 where delegated, else v1): caps forks where RLIMIT_NPROC cannot."""

    def __init__(self) -> None:
        self.base: Path | None = None
        self.reason = "no writable pids cgroup (needs root or a delegated cgroup)"
        unified = Path("/sys/fs/cgroup/cgroup.controllers")
        try:
            v2_pids = unified.exists() and "pids" in unified.read_text().split()
            for line in Path("/proc/self/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                if controllers == "pids":
                    candidate = Path("/sys/fs/cgroup/pids") / path.lstrip("/")
                elif controllers == "" and v2_pids:
                    candidate = Path("/sys/fs/cgroup") / path.lstrip("/")
                else:
                    continue
                if os.access(candidate, os.W_OK):
                    self.base, self.reason = candidate, ""
                    return
        except OSError as exc:
            self.reason = f"cgroups unavailable: {exc}"

    def create(self, pid: int, limit: int) -> Path | None:
        if self.base is None:
            return None
        group = self.base / f"{CGROUP_PREFIX}{os.getpid()}-{pid}"
        if group.exists():  # left by an earlier owner with these same pids (killed before it cleaned up)
            self.remove(group)
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(limit))
            (group / "cgroup.procs").write_text(str(pid))
            return group
        except OSError:
            self.remove(group)
            return None

    def sweep(self) -> None:
        """Remove the groups of owners that are gone (a killed process cannot remove its own)."""
        if self.base is None:
            return
        for group in self.base.glob(f"{CGROUP_PREFIX}*"):
            owner = group.name.removeprefix(CGROUP_PREFIX).split("-")[0]
            if owner.isdigit() and not _alive(int(owner)):
                self.remove(group)

    @staticmethod
    def remove(group: Path | None) -> None:
        if group is None or not group.exists():
            return
        for _ in range(50):  # kill stragglers until the group is empty, then remove it
            try:
                pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
        try:
            group.rmdir()
        except OSError:
            pass


_cgroups: PidsCgroup | None = None


def _pids_cgroup() -> PidsCgroup:
    global _cgroups
    if _cgroups is None:
        _cgroups = PidsCgroup()
        _cgroups.sweep()
    return _cgroups



class _Worker:
    """One started worker process, waiting (already locked down) for its single job."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        # The owner's pid in the name: jails of a process that died (kill -9) are found and removed.
        self.jail = tempfile.mkdtemp(prefix=f"{JAIL_PREFIX}{os.getpid()}-")
        read_end, write_end = os.pipe()
        # The worker watches the read end of this pipe: when this process dies, however it dies,
        # the write end closes and the worker kills itself and everything it started.
        life_read, self._life = os.pipe()
        uid, gid, uid_note = worker_identity()
        config = {"jail": self.jail, "result_fd": write_end, "life_fd": life_read, "limits": {
            "cpu_seconds": limits.cpu_seconds, "memory_bytes": limits.memory_bytes, "file_bytes": limits.file_bytes,
            "open_files": limits.open_files, "processes": limits.processes},
            "read_paths": _python_read_paths() + SYSTEM_READ_PATHS, "uid_note": uid_note,
            "root": uid == 0, "landlock_path": str(HERE / "landlock.py"), "registry_path": str(HERE / "registry.py"),
            "seccomp_path": str(HERE / "seccomp.py")}
        drop: dict[str, Any] = {}
        if uid != os.geteuid():
            os.chown(self.jail, uid, gid)
            drop = {"user": uid, "group": gid, "extra_groups": []}
        try:
            self.proc = subprocess.Popen(
                [worker_python(), "-I", "-B", str(WORKER), json.dumps(config)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(write_end, life_read), cwd=self.jail,
                env=_scrubbed_env(self.jail), start_new_session=True, **drop)
        except OSError:
            os.close(read_end)
            os.close(self._life)
            shutil.rmtree(self.jail, ignore_errors=True)
            raise
        finally:
            os.close(write_end)
            os.close(life_read)
        self.results = os.fdopen(read_end, "rb", buffering=0)
        cgroups = _pids_cgroup()
        self.cgroup = cgroups.create(self.proc.pid, limits.processes)
        self.cgroup_reason = "" if self.cgroup else (cgroups.reason or "could not create a pids cgroup")

    def run(self, job: dict[str, Any], wall_seconds: float) -> SandboxResult:
        started = time.perf_counter()
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the worker died before its job: the collection below reports why
        result = self._collect(started + wall_seconds)
        result.duration_ms = (time.perf_counter() - started) * 1000
        return result

    def _collect(self, deadline: float) -> SandboxResult:
        buffers = {"stdout": bytearray(), "stderr": bytearray(), "result": bytearray()}
        selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr), ("result", self.results)):
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ, name)
        failure: tuple[ErrorKind, str] | None = None
        cap = self.limits.output_bytes
        open_streams = 3
        while open_streams:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                failure = ("timeout", f"the tool ran longer than {self.limits.wall_seconds:g} s and was stopped")
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buffers[key.data].extend(chunk)
            if len(buffers["stdout"]) + len(buffers["stderr"]) > cap:
                failure = ("output", f"the tool printed more than {cap:,} bytes and was stopped")
                break
            if len(buffers["result"]) > cap + 65536:
                failure = ("output", f"the tool returned more than {cap:,} bytes and was stopped")
                break
        selector.close()
        self.kill()
        code = self.proc.returncode
        stdout = bytes(buffers["stdout"][:cap]).decode("utf-8", "replace")
        stderr = bytes(buffers["stderr"][:cap]).decode("utf-8", "replace")
        lines = _result_lines(bytes(buffers["result"]))
        # The worker's own "ready" line comes before any tool code runs; its result line comes
        # last. Tool code can write to the pipe in between: it cannot displace either.
        layers: dict[str, Any] = next((line["ready"] for line in lines if isinstance(line.get("ready"), dict)), {})
        final = next((line for line in reversed(lines) if isinstance(line.get("ok"), bool)), None)
        if failure is None and final is not None:
            if final["ok"]:
                return SandboxResult(True, final.get("value"), stdout=stdout, stderr=stderr, layers=layers)
            message = final.get("message", "")
            if final.get("traceback"):
                stderr = (stderr + final["traceback"])[-cap:]
            return SandboxResult(False, error=final.get("error", "exception"), message=message, stdout=stdout,
                                 stderr=stderr, layers=layers)
        if failure is None:
            failure = self._death_reason(code, layers, stderr)
        return SandboxResult(False, error=failure[0], message=failure[1], stdout=stdout, stderr=stderr, layers=layers)

    def _death_reason(self, code: int | None, layers: dict[str, Any], stderr: str) -> tuple[ErrorKind, str]:
        signalled = -code if code is not None and code < 0 else (code - 128 if code and code > 128 else None)
        if signalled == signal.SIGXCPU or (signalled == signal.SIGKILL and "cpu_seconds" in layers.get("rlimits", [])):
            return "cpu", f"the tool used more than {self.limits.cpu_seconds} s of CPU time and was stopped"
        if "MemoryError" in stderr:
            return "memory", "the tool ran out of memory (address-space limit)"
        if not layers:
            tail = stderr.strip().splitlines()[-1:] or [f"exit code {code}"]
            return "sandbox", f"the sandbox did not start: {tail[0]}"
        return "killed", f"the tool's process ended without a result (exit code {code})"

    def kill(self) -> None:
        """Stop the worker and everything it started; remove its jail. Safe to call twice."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        PidsCgroup.remove(self.cgroup)
        self.cgroup = None
        if self._life >= 0:
            os.close(self._life)
            self._life = -1
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr, self.results):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        shutil.rmtree(self.jail, ignore_errors=True)


def _result_lines(raw: bytes) -> list[dict[str, Any]]:
    """The well-formed JSON objects of the result pipe, in order; anything else is skipped."""
    found = []
    for line in raw.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


SANDBOX_USER = "nobody"


def _others_can_read(path: str, *, traverse_only: bool = False) -> bool:
    """Whether a user with no rights of its own can reach and read ``path`` (mode bits of it and
    of every directory above it); ``traverse_only``: pass through the directory (a jail's parent)."""
    import stat

    target = Path(path).resolve()
    for directory in target.parents:
        try:
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return True  # optional paths (some read paths do not exist on every system)
    wanted = stat.S_IXOTH if traverse_only else stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & wanted == wanted


@functools.lru_cache(maxsize=8)
def _identity_for(python: str, jails: str) -> tuple[int, int, str]:
    """(uid, gid, note) the workers run as. memos running as root starts them as ``nobody``, so
    tool code owns no file and matches no root-only permission; that needs the Python it runs
    on to be readable by other users (a Python under a private /root is not), else the worker
    keeps root's uid (without its capabilities: it lives in a user namespace of its own) and
    the note says why."""
    uid, gid = os.geteuid(), os.getegid()
    note = ""
    if uid == 0:
        import pwd

        try:
            user = pwd.getpwnam(SANDBOX_USER)
        except KeyError:
            note = f"kept uid 0: this system has no '{SANDBOX_USER}' user"
        else:
            needed = [python, str(WORKER), *(p for p in [*_interpreter_paths(python), *OWN_FILES] if Path(p).exists())]
            private = next((p for p in needed if not _others_can_read(p)), None)
            if private is None and not _others_can_read(jails, traverse_only=True):
                private = jails
            if private is None:
                uid, gid = user.pw_uid, user.pw_gid
            else:
                note = (f"kept uid 0: {Path(private).resolve()} is not readable by other users "
                        f"(set {SANDBOX_PYTHON_VARIABLE} to a Python they can read)")
    return uid, gid, note


def worker_identity() -> tuple[int, int, str]:
    return _identity_for(worker_python(), tempfile.gettempdir())


def remove_stale_jails() -> int:
    """Remove the jails of memos processes that are gone (killed before they could clean up)."""
    removed = 0
    for jail in Path(tempfile.gettempdir()).glob(f"{JAIL_PREFIX}*"):
        owner = jail.name[len(JAIL_PREFIX):].split("-", 1)[0]
        if not owner.isdigit() or _alive(int(owner)):
            continue
        shutil.rmtree(jail, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_swept = False


class Sandbox:
    """Runs tool code in sandboxed worker processes; ``warm`` workers are kept started ahead of calls."""

    def __init__(self, limits: Limits | None = None, warm: int = 0) -> None:
        global _swept
        if not _swept:  # once per process
            _swept = True
            remove_stale_jails()
        self.limits = limits or Limits()
        self.warm = warm
        self._pool: list[_Worker] = []
        self._lock = threading.Lock()
        self._filling = threading.Lock()
        self._closed = False
        if warm:
            self._top_up()

    # -- jobs ------------------------------------------------------------------------
    def call(self, files: dict[str, str], module: str, function: str, arguments: dict[str, Any],
             limits: Limits | None = None) -> SandboxResult:
        return self._run({"kind": "call", "files": files, "module": module, "function": function,
                          "args": arguments}, limits)

    def describe(self, files: dict[str, str], modules: list[str]) -> SandboxResult:
        """Import each tool module and build its JSON schema, inside the sandbox (tool code is untrusted)."""
        return self._run({"kind": "describe", "files": files, "modules": modules}, None)

    def pytest(self, files: dict[str, str], args: list[str] | None = None, limits: Limits | None = None) -> SandboxResult:
        limits = limits or Limits(wall_seconds=120, cpu_seconds=120, memory_bytes=2 << 30, output_bytes=4 << 20)
        return self._run({"kind": "pytest", "files": files, "args": args or []}, limits)

    def info(self) -> dict[str, Any]:
        """The layers in force, from a worker that ran a no-op job."""
        worker = _Worker(self.limits)
        result = worker.run({"kind": "call", "files": {"noop.py": "def noop():\n    return 'ok'\n"},
                             "module": "noop", "function": "noop", "args": {}}, READY_TIMEOUT)
        return {"ok": result.ok, "error": result.message if not result.ok else None,
                "layers": result.layers, "pids_cgroup": worker.cgroup_reason or "in force",
                "limits": asdict(self.limits)}

    # -- pool ------------------------------------------------------------------------
    def _run(self, job: dict[str, Any], limits: Limits | None) -> SandboxResult:
        worker = self._take() if limits is None or limits == self.limits else _Worker(limits)
        try:
            return worker.run(job, worker.limits.wall_seconds)
        finally:
            worker.kill()

    def _take(self) -> _Worker:
        with self._lock:
            worker = self._pool.pop(0) if self._pool else None
        if self.warm and not self._closed:
            threading.Thread(target=self._top_up, name="memos-sandbox-pool", daemon=True).start()
        return worker or _Worker(self.limits)

    def _top_up(self) -> None:
        if not self._filling.acquire(blocking=False):
            return  # another thread is already filling the pool
        try:
            self._fill()
        finally:
            self._filling.release()

    def _fill(self) -> None:
        while True:
            with self._lock:
                if self._closed or len(self._pool) >= self.warm:
                    return
            worker = _Worker(self.limits)
            with self._lock:
                if self._closed:
                    worker.kill()
                    return
                self._pool.append(worker)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, []
        for worker in pool:
            worker.kill()
        # A top-up may be starting a worker right now; it kills that worker once it sees the pool
        # closed. Wait for it, so nothing of this sandbox runs (or stays on disk) after close.
        with self._filling:
            pass

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
