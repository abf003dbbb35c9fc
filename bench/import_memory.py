"""Memory of a big import: `memos archival add --format text --file` of a text of N MB (#14).

The text is the standard library's sentences (bench/corpus.py), repeated to size. The
import runs as a user would run it; the whole process tree's RSS (memos and any child it
starts) is sampled every 50 ms, so the peak is what the machine had to hold at once.
Run: .venv/bin/python bench/import_memory.py [--mb 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_line  # noqa: E402
from corpus import sentences  # noqa: E402

MEMOS = Path(sys.executable).parent / "memos"


def make_text(path: Path, megabytes: int) -> None:
    lines = sentences(20_000)
    target, written, i = megabytes * 1_000_000, 0, 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            line = lines[i % len(lines)] + "\n"
            out.write(line)
            written += len(line.encode())
            i += 1


def tree_rss(root: psutil.Process) -> int:
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MEMOS_HOME": str(Path(tmp) / "home")}
        text = Path(tmp) / "big.txt"
        make_text(text, args.mb)
        subprocess.run([str(MEMOS), "agents", "create", "big"], env=env, check=True, capture_output=True)
        started = time.monotonic()
        proc = subprocess.Popen([str(MEMOS), "archival", "add", "--format", "text", "--file", str(text), "--json"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        watched = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, tree_rss(watched))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        seconds = time.monotonic() - started
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.returncode != 0:
            sys.exit(f"the import failed ({proc.returncode}): {err[-2000:]}")
        stats = subprocess.run([str(MEMOS), "archival", "stats", "--json"], env=env, check=True,
                               capture_output=True, text=True).stdout
    print(machine_line())
    print(f"{args.mb} MB text: imported in {seconds:.0f} s, peak RSS of the process tree {peak / 2**20:.0f} MiB")
    import json

    found = json.loads(stats)
    print(f"passages {found['total']}, indexed {found['indexed']}")


if __name__ == "__main__":
    main()
