"""A user's install, measured (issue 32): `pip install --no-deps -r requirements-runtime.lock .`
into a fresh venv, then `memos archival add` and `search` in it, offline, beside the dev install.

Prints the venv's size, whether torch, transformers or sentence-transformers got in, the largest
packages, and the vector scores of the same search in both installs (they must agree within
0.001). Run by hand: `.venv/bin/python bench/install.py [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTS = ["The user's dog is a border collie named Pixel.", "The user works as a marine biologist in Lisbon.",
         "The user is allergic to penicillin.", "The user plays the cello on weekends."]
QUERY = "where is the user's job"


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def search_scores(memos: Path, home: Path) -> list[tuple[str, float]]:
    env = {**os.environ, "MEMOS_HOME": str(home), "MEMOS_MODEL_CACHE": str(home / "models"), "NO_COLOR": "1",
           "HF_HUB_OFFLINE": "1", "no_proxy": "*", "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([str(memos), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"{memos} {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    run("agents", "create", "bench", "--model", "openai/none")
    run("archival", "add", "--agent", "bench", "-", stdin="\n".join(FACTS) + "\n")
    hits = json.loads(run("archival", "search", "--agent", "bench", "--mode", "vector", "--json", QUERY))
    return [(hit["text"], float(hit["score"])) for hit in hits]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="build the venv here and keep it")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memos-install-"))
    venv = args.keep or work / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "-r", str(ROOT / "requirements-runtime.lock"), str(ROOT)], check=True)
        site = next((venv / "lib").glob("python3.*/site-packages"))
        heavy = [name for name in ("torch", "transformers", "sentence_transformers") if (site / name).exists()]
        packages = sorted(((size_of(p), p.name) for p in site.iterdir() if p.is_dir()), reverse=True)[:8]
        lean = search_scores(venv / "bin" / "memos", work / "lean-home")
        dev = search_scores(ROOT / ".venv" / "bin" / "memos", work / "dev-home")
        worst = max(abs(a[1] - b[1]) for a, b in zip(lean, dev, strict=True))
        print(f"venv: {size_of(venv) / 2**20:.0f} MiB (apparent size of every file)")
        print(f"torch / transformers / sentence-transformers installed: {heavy or 'none'}")
        print("largest: " + ", ".join(f"{name} {size / 2**20:.0f} MiB" for size, name in packages))
        print(f"search '{QUERY}' (vector), lean vs dev install:")
        for (text, score), (_, dev_score) in zip(lean, dev, strict=True):
            print(f"  {score:.4f}  {dev_score:.4f}  {text}")
        print(f"largest score difference: {worst:.5f}; same order: {[t for t, _ in lean] == [t for t, _ in dev]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
