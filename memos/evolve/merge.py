"""Bringing an evolution's branch into the tools' main branch: a fast-forward when main has not
moved, else a merge commit; a conflicting move is refused and nothing changes. Idempotent: a
branch already in main (a process killed right after merging) is not merged twice."""

from __future__ import annotations

from memos.errors import InvalidInput
from memos.evolve import branches
from memos.store.base import Evolution
from memos.tools.repo import ToolRepo


def merge_evolution(repo: ToolRepo, evolution: Evolution) -> str:
    """Merge the evolution's branch; returns main's new head."""
    current = repo.head()
    if evolution.head_commit and current and branches.is_ancestor(repo, evolution.head_commit, current):
        return current
    branches.refuse_unless_clean(repo, "merge the evolution")
    head = branches.branch_head(repo, evolution.branch)
    if head is None or head != evolution.head_commit:
        raise InvalidInput(f"branch {evolution.branch} is gone or moved", "run `memos evolve test` and review it again")
    if current and branches.is_ancestor(repo, current, head):
        branches.fast_forward(repo, head)
    else:
        message = (f"Merge evolution: {evolution.title}\n\n"
                   f"Memos-Made: true\n{branches.EVOLUTION_TRAILER}: {evolution.id}")
        if not branches.merge_commit(repo, head, message):
            raise InvalidInput(f"the tools changed since evolution {evolution.id} was proposed, and the change "
                               "no longer merges cleanly", "reject it; the next pass can propose it again")
    merged = repo.head()
    assert merged is not None
    return merged
