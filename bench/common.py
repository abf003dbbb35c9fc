"""What the benchmarks share: the line they print first (machine and date), percentiles."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from datetime import date

import numpy as np


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem_gib = 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return (f"# {date.today().isoformat()} · {cpu} · {os.cpu_count()} cores · {mem_gib:.0f} GiB · "
            f"Python {platform.python_version()} · memos {commit or '?'}")


def pct(seconds: Sequence[float], q: float) -> float:
    """The q-th percentile of durations in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(seconds) * 1000, q))


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds of each of ``repeat`` calls of ``fn``."""
    import time

    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out
