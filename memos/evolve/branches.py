"""Git for evolutions: each proposal on its own branch in its own worktree (the main
checkout is never touched until a merge), fast-forward merges, reverting rollbacks."""

from __future__ import annotations

import shutil
from pathlib import Path

from memos.errors import InvalidInput
from memos.tools.repo import MEMOS_TRAILER, ToolRepo

EVOLUTION_TRAILER = "Memos-Evolution"
BRANCH_PREFIX = "evolve/"


def worktree_root(repo: ToolRepo) -> Path:
    return repo.path.parent / "evolve-worktrees"


def start_worktree(repo: ToolRepo, branch: str, base: str, evolution_id: str) -> ToolRepo:
    """A new branch at ``base`` checked out in its own directory."""
    path = worktree_root(repo) / evolution_id
    path.parent.mkdir(parents=True, exist_ok=True)
    repo.git.git.worktree("add", "-b", branch, str(path), base)
    return ToolRepo(path)


def remove_worktree(repo: ToolRepo, evolution_id: str) -> None:
    path = worktree_root(repo) / evolution_id
    if path.exists():
        try:
            repo.git.git.worktree("remove", "--force", str(path))
        except Exception:
            shutil.rmtree(path, ignore_errors=True)
    repo.git.git.worktree("prune")


def stale_worktrees(repo: ToolRepo) -> list[str]:
    root = worktree_root(repo)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def delete_branch(repo: ToolRepo, branch: str) -> None:
    if branch in [h.name for h in repo.git.heads]:
        repo.git.git.branch("-D", branch)


def branch_head(repo: ToolRepo, branch: str) -> str | None:
    heads = {h.name: h.commit.hexsha for h in repo.git.heads}
    return heads.get(branch)


def merged_tree(repo: ToolRepo, main: str, head: str) -> str | None:
    """The tree main would have after merging ``head`` (nothing is written to any branch or the
    checkout); None when they conflict."""
    try:
        return str(repo.git.git.merge_tree("--write-tree", main, head)).splitlines()[0].strip()
    except Exception:  # git exits 1 on a conflict
        return None


def changed_paths(repo: ToolRepo, base: str, head: str) -> list[str]:
    return sorted(repo.git.git.diff("--name-only", base, head).splitlines())


def diff(repo: ToolRepo, base: str, head: str) -> str:
    return str(repo.git.git.diff(base, head))


def refuse_unless_clean(repo: ToolRepo, doing: str) -> None:
    changes = repo.changes()
    if changes:
        names = ", ".join(c.path for c in changes[:5])
        raise InvalidInput(f"cannot {doing}: the tool repo has uncommitted changes ({names})",
                           "commit them with `memos tools commit` or discard them first")


def fast_forward(repo: ToolRepo, head: str) -> None:
    """Move main to ``head`` (a descendant of it) and update the checkout."""
    repo.git.git.merge("--ff-only", head)


def merge_commit(repo: ToolRepo, head: str, message: str) -> bool:
    """Merge ``head`` into main with a merge commit; False (and nothing changed) on a conflict."""
    try:
        repo.git.git.merge("--no-ff", "--no-edit", "-m", message, head)
        return True
    except Exception:
        repo.git.git.merge("--abort")
        return False


def commits_between(repo: ToolRepo, base: str, head: str) -> list[str]:
    """The commits reachable from ``head`` but not from ``base``, newest first."""
    return str(repo.git.git.rev_list(f"{base}..{head}")).split()


def revert_uncommitted(repo: ToolRepo, *what: str) -> bool:
    """Apply the reverse of ``what`` (commits, a range, or -m 1 MERGE) to the checkout without
    committing; False (and the checkout back where it was) on a conflict."""
    try:
        repo.git.git.revert("--no-commit", *what)
        return True
    except Exception:
        try:
            repo.git.git.revert("--abort")
        except Exception:
            repo.git.git.reset("--hard", "HEAD")  # nothing was committed: back to where we were
        return False


def is_ancestor(repo: ToolRepo, older: str, newer: str) -> bool:
    try:
        repo.git.git.merge_base("--is-ancestor", older, newer)
        return True
    except Exception:
        return False


def memos_made(repo: ToolRepo, commit: str) -> bool:
    return f"{MEMOS_TRAILER}: true" in repo.git.commit(commit).message
