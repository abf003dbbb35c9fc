"""An agent's tool code where several machines share one store (PostgreSQL).

The database holds every commit and branch of the agent's tool repository: a git pack per
change (`git pack-objects`, self-contained) and the branches' heads. A home's repository is a
cache of it, keyed by the agent's id:

- `synced` brings the local repository up to the store's branches (applying the packs it
  lacks) before anything reads it. A replica that has never seen the agent builds its copy here.
- `changing` is the right to change the repository: the agent's cluster lock, the store's
  version first, and at the end what the change made (a pack and the moved branches),
  published by compare-and-swap in one transaction. A change that fails publishes nothing, and
  the next sync drops its local commits; no replica writes its version back over another's.
- `current` is the commit a turn runs: main as the store records it.

On a store that is not shared (DuckDB: one machine) the repository on disk is the truth, as it
always was; `changing` then only keeps the home's own processes from changing it at once.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memos.core.workspace import Workspace
from memos.errors import MemosError, StorageProblem
from memos.store.base import Agent, Store
from memos.store.clusterlock import file_lock
from memos.tools.repo import ToolRepo

MAIN = "main"
LOCK_SECONDS = 60.0  # how long a change waits for another replica's change of the same agent
STATE_FILE = "memos-store.json"  # in .git: the last pack applied from the store


class ToolCodeDamaged(StorageProblem):
    """The store names a commit that none of its packs holds."""


_held = threading.local()  # {repo path: depth} of the local locks this thread holds


def _holding() -> dict[Path, int]:
    if not hasattr(_held, "paths"):
        _held.paths = {}
    paths: dict[Path, int] = _held.paths
    return paths


@contextmanager
def _local(path: Path) -> Iterator[bool]:
    """This home's processes one at a time in the repo (git itself does not queue them); yields
    whether this thread was already inside (a change in progress: do not sync under it)."""
    held = _holding()
    if held.get(path):
        held[path] += 1
        try:
            yield True
        finally:
            held[path] -= 1
        return
    with file_lock(path.parent / "tools.lock", f"the tool repo at {path}", LOCK_SECONDS):
        held[path] = 1
        try:
            yield False
        finally:
            del held[path]


def _git(path: Path, *args: str, data: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", *args], cwd=path, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        raise MemosError(f"git {args[0]} failed in {path}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _local_heads(path: Path) -> dict[str, str]:
    """The repo's branches, read from its files (no git process: this runs before every turn)."""
    git_dir = path / ".git"
    heads: dict[str, str] = {}
    packed = git_dir / "packed-refs"
    if packed.exists():
        for line in packed.read_text().splitlines():
            sha, _, ref = line.partition(" ")
            if ref.startswith("refs/heads/"):
                heads[ref.removeprefix("refs/heads/")] = sha
    loose = git_dir / "refs" / "heads"
    for file in loose.rglob("*") if loose.exists() else ():
        if file.is_file():
            heads[file.relative_to(loose).as_posix()] = file.read_text().strip()
    return heads


def _missing(path: Path, shas: set[str]) -> set[str]:
    if not shas:
        return set()
    out = _git(path, "cat-file", "--batch-check", data="".join(f"{s}\n" for s in shas).encode())
    return {line.split()[0] for line in out.decode().splitlines() if line.endswith(" missing")}


def _applied(path: Path) -> int:
    try:
        return int(json.loads((path / ".git" / STATE_FILE).read_text())["seq"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _set_applied(path: Path, seq: int) -> None:
    state = path / ".git" / STATE_FILE
    state.with_suffix(".tmp").write_text(json.dumps({"seq": seq}))
    state.with_suffix(".tmp").replace(state)


def _fetch(store: Store, agent: Agent, path: Path, refs: dict[str, str]) -> None:
    """Apply the packs this repo lacks until it holds every commit the store's branches name."""
    wanted = set(refs.values())
    for after in (_applied(path), 0):  # the packs since the last one applied; all of them if that was not enough
        if not _missing(path, wanted):
            return
        packs = store.tool_code_packs(agent.id, after)
        for seq, pack in packs:
            _git(path, "unpack-objects", "-q", data=pack)
            _set_applied(path, seq)
    if _missing(path, wanted):
        raise ToolCodeDamaged(f"the store names tool commits of agent '{agent.name}' that none of its packs holds",
                              "run `memos doctor` on a replica that has them")


def _checked_out(path: Path) -> str | None:
    head = (path / ".git" / "HEAD").read_text().strip()
    return head.removeprefix("ref: refs/heads/") if head.startswith("ref: refs/heads/") else None


def _move_branches(path: Path, refs: dict[str, str], *, strict: bool) -> None:
    local = _local_heads(path)
    current = _checked_out(path)
    for ref, sha in refs.items():
        if local.get(ref) == sha:
            continue
        if ref != current:
            _git(path, "update-ref", f"refs/heads/{ref}", sha)
        elif ref not in local:  # a fresh copy: nothing checked out yet
            _git(path, "update-ref", f"refs/heads/{ref}", sha)
            _git(path, "reset", "-q", "--hard")
        else:
            try:  # keeps a person's uncommitted edits that the new version does not touch
                _git(path, "reset", "-q", "--keep", sha)
            except MemosError:
                if strict:
                    raise MemosError(f"uncommitted edits in {path} conflict with the newer tool code another "
                                     "replica published", "commit them (`memos tools commit`) or discard them "
                                     "(git checkout .), then try again") from None
                # Turns read the store's commit itself (current()), so a stale checkout misleads nobody.
    for ref in set(local) - set(refs):
        if ref != current:
            try:
                _git(path, "update-ref", "-d", f"refs/heads/{ref}")
            except MemosError:
                pass  # checked out in an evolution's worktree that is being removed


def _init_empty(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q", "--initial-branch", MAIN)


def _pull(store: Store, agent: Agent, path: Path, *, strict: bool) -> dict[str, str]:
    """The store's branches, with this repo brought to them; {} when the store has none yet."""
    refs = store.tool_code_refs(agent.id)
    if not refs:
        return refs
    if not (path / ".git").exists():
        _init_empty(path)
    if _local_heads(path) != refs:
        _fetch(store, agent, path, refs)
        _move_branches(path, refs, strict=strict)
    return refs


def _push(store: Store, agent: Agent, path: Path, before: dict[str, str]) -> None:
    """Publish what changed in the repo's branches since ``before`` (the store's branches then)."""
    local = _local_heads(path)
    moved: dict[str, str | None] = {ref: sha for ref, sha in local.items() if before.get(ref) != sha}
    moved.update({ref: None for ref in before if ref not in local})
    if not moved:
        return
    tips = sorted({sha for sha in moved.values() if sha})
    pack = None
    if tips:
        known = sorted(set(before.values()) - _missing(path, set(before.values())))
        revs = "".join(f"{sha}\n" for sha in tips) + "".join(f"^{sha}\n" for sha in known)
        pack = _git(path, "pack-objects", "--revs", "--stdout", "-q", data=revs.encode())
    seq = store.publish_tool_code(agent.id, pack, {ref: before.get(ref) for ref in moved}, moved)
    if seq is not None and seq == _applied(path) + 1:
        _set_applied(path, seq)  # this repo has every pack up to it


def _first_version(ws: Workspace, agent: Agent, path: Path) -> ToolRepo:
    """The store holds no tool code for the agent yet: this home's repo (made now if missing)
    becomes the first version, unless another replica published one meanwhile."""
    with ws.store.cluster_lock(f"toolcode:{agent.id}", LOCK_SECONDS):
        if _pull(ws.store, agent, path, strict=False):
            return ToolRepo(path)
        repo = ToolRepo.ensure(path, agent.name)
        _push(ws.store, agent, path, {})
        return repo


def _synced(ws: Workspace, agent: Agent) -> tuple[ToolRepo, dict[str, str]]:
    path = ws.home.tools_dir_of(agent)
    with _local(path) as inside_a_change:
        if inside_a_change:
            return ToolRepo(path), _local_heads(path)
        refs = _pull(ws.store, agent, path, strict=False)
        if not refs:
            return _first_version(ws, agent, path), _local_heads(path)
        return ToolRepo(path), refs


def tool_repo(ws: Workspace, agent: Agent) -> ToolRepo:
    """The agent's tool repo, created on first use; on a store several machines share, first
    brought up to the version the store holds."""
    return synced(ws, agent)


def synced(ws: Workspace, agent: Agent) -> ToolRepo:
    """The agent's tool repo, created on first use, at the store's version when the store is shared."""
    if not ws.store.cluster:
        return ToolRepo.ensure(ws.home.tools_dir_of(agent), agent.name)
    return _synced(ws, agent)[0]


def current(ws: Workspace, agent: Agent) -> tuple[ToolRepo, str | None]:
    """The repo and the commit of main a turn runs: the store's (None on an unshared store: the
    working tree is what runs there)."""
    if not ws.store.cluster:
        return synced(ws, agent), None
    repo, refs = _synced(ws, agent)
    return repo, refs.get(MAIN)


def main_in_store(ws: Workspace, agent: Agent) -> str | None:
    """Main's commit as the store records it now (one query: a running session asks before each step)."""
    return ws.store.tool_code_refs(agent.id).get(MAIN) if ws.store.cluster else None


@contextmanager
def changing(ws: Workspace, agent: Agent) -> Iterator[ToolRepo]:
    """The right to change the agent's tool repo, for the block's length (see the module's
    doc). Nested uses in one thread join the outer one, which publishes."""
    path = ws.home.tools_dir_of(agent)
    with _local(path) as inside_a_change:
        if inside_a_change or not ws.store.cluster:
            yield ToolRepo.ensure(path, agent.name) if not inside_a_change else ToolRepo(path)
            return
        with ws.store.cluster_lock(f"toolcode:{agent.id}", LOCK_SECONDS):
            before = _pull(ws.store, agent, path, strict=True)
            repo = ToolRepo.ensure(path, agent.name)
            yield repo
            _push(ws.store, agent, path, before)


def publish(ws: Workspace, agent: Agent) -> None:
    """Put a new agent's repo (made by its creator, maybe inside the creating transaction) in the
    store, so that every replica starts from it."""
    if ws.store.cluster:
        publish_repo(ws.store, agent, ws.home.tools_dir_of(agent))


def publish_repo(store: Store, agent: Agent, path: Path) -> bool:
    """Publish the repo at ``path`` as the agent's tool code in ``store`` (`memos db migrate-to`
    brings each agent's repo along with its rows); False when there is no repo there."""
    if not (path / ".git").exists():
        return False
    with _local(path):
        _push(store, agent, path, store.tool_code_refs(agent.id))
    return True
