"""A seccomp filter for the sandbox worker: the system calls tool code must never make.

Runs inside the worker (loaded by path, standard library only), after Landlock and just
before the job is read. Why a syscall filter on top of namespaces and Landlock: Landlock's
file rules do not cover ``connect()`` to a Unix socket file, so a tool could reach any
socket the worker's uid may open (PostgreSQL's, Docker's, D-Bus's) and talk to it as that
user. Refusing ``socket(AF_UNIX, ...)`` closes that whatever the uid; ``socketpair`` stays
(it reaches nothing outside the process). The rest of the list are calls that reach state
the namespaces do not separate, or that would bypass this filter:

- io_uring_*: its SOCKET and CONNECT operations do not pass through seccomp at all;
- keyctl / add_key / request_key: kernel keyrings belong to the real uid, not the namespace;
- ptrace, process_vm_readv/writev: another process's memory;
- bpf, perf_event_open, userfaultfd: large kernel attack surface no tool needs;
- unshare, setns: new namespaces from inside, where the worker's own are the point.

Calls of another architecture (a 32-bit int 0x80 on x86-64, or x32's numbers) would dodge a
filter written for the native numbers, so the filter kills the process on them.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
from dataclasses import dataclass

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
AF_UNIX = 1

# BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
RET_ALLOW, RET_KILL_PROCESS = 0x7FFF0000, 0x80000000
RET_EPERM = 0x00050000 | errno.EPERM
# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little-endian here).
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW = 0, 4, 16
X32_SYSCALL_BIT = 0x40000000


@dataclass(frozen=True)
class Arch:
    audit: int
    socket: int
    denied: dict[str, int]


ARCHES = {
    "x86_64": Arch(0xC000003E, 41, {
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "keyctl": 250,
        "add_key": 248, "request_key": 249, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "unshare": 272, "setns": 308}),
    "aarch64": Arch(0xC00000B7, 198, {
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "keyctl": 219,
        "add_key": 217, "request_key": 218, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "unshare": 97, "setns": 268}),
}


def _instruction(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(arch: Arch) -> list[bytes]:
    """The filter: wrong architecture -> kill; a denied call -> EPERM; socket(AF_UNIX) -> EPERM."""
    denied = list(arch.denied.values())
    code = [
        _instruction(LD_W_ABS, 0, 0, OFFSET_ARCH),
        _instruction(JEQ_K, 1, 0, arch.audit),
        _instruction(RET_K, 0, 0, RET_KILL_PROCESS),
        _instruction(LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if arch.audit == ARCHES["x86_64"].audit:  # x32 numbers: the same calls under another number
        code += [_instruction(JGE_K, 0, 1, X32_SYSCALL_BIT), _instruction(RET_K, 0, 0, RET_KILL_PROCESS)]
    for number in denied:  # each: equal -> the next instruction (EPERM), else skip it
        code += [_instruction(JEQ_K, 0, 1, number), _instruction(RET_K, 0, 0, RET_EPERM)]
    code += [
        _instruction(JEQ_K, 0, 3, arch.socket),  # not socket(): allowed
        _instruction(LD_W_ABS, 0, 0, OFFSET_ARG0_LOW),
        _instruction(JEQ_K, 0, 1, AF_UNIX),
        _instruction(RET_K, 0, 0, RET_EPERM),
        _instruction(RET_K, 0, 0, RET_ALLOW),
    ]
    return code


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> str:
    """Install the filter on this process (and what it starts). Returns '' when in force, or
    why not (an architecture without a table here, or a kernel without seccomp filters)."""
    arch = ARCHES.get(platform.machine())
    if arch is None:
        return f"no syscall table for {platform.machine()}"
    libc = ctypes.CDLL(None, use_errno=True)
    code = b"".join(program(arch))
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"prctl(NO_NEW_PRIVS) failed: errno {ctypes.get_errno()}"
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        return f"seccomp filter refused: errno {ctypes.get_errno()}"
    return ""
