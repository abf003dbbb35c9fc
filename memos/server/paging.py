"""Cursor paging over short lists held in memory (agents, blocks, tools), as Letta pages them.

letta-client's list pages ask for the next page with ``after=<last id>`` until a
page comes back empty, so every listed route must honour the cursors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

T = TypeVar("T")


def paged(items: Sequence[T], *, after: str | None, before: str | None, limit: int,
          key: Callable[[T], str] = lambda item: str(getattr(item, "id")),  # noqa: B009
          order: Literal["asc", "desc"] = "asc") -> list[T]:
    """The items strictly after ``after`` and before ``before`` (ids), at most ``limit``:
    the first ones, or the last ones when paging backwards with only ``before``. ``items`` come
    oldest first; ``order="desc"`` lists and pages them newest first. A cursor that names no
    item (deleted since the client read it) is left out, as Letta does: a client that deletes
    what it lists page by page then gets what is left."""
    chosen = list(items) if order == "asc" else list(reversed(items))
    for cursor, keep_after in ((after, True), (before, False)):
        ids = [key(item) for item in chosen]
        if cursor and cursor in ids:
            at = ids.index(cursor)
            chosen = chosen[at + 1:] if keep_after else chosen[:at]
    return chosen[-limit:] if before and not after else chosen[:limit]

