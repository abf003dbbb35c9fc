"""Keyset paging: the rows after a cursor row in (key, id) order, however many rows there are."""

from __future__ import annotations

from typing import Any, Literal

from memos.errors import NotFound


def page_after(con: Any, table: str, key: str, after: str | None, order: Literal["asc", "desc"],
               where: list[str], params: list[Any], *, alias: str = "", what: str = "row") -> str:
    """Add to ``where``/``params`` the condition for rows past the row ``after`` (an id) in the
    order asked for; returns the SQL direction (ASC/DESC) to sort by ``key``, then id."""
    direction, beyond = ("DESC", "<") if order == "desc" else ("ASC", ">")
    if after is not None:
        anchor = con.execute(f"SELECT {key} FROM {table} WHERE id = ?", [after]).fetchone()
        if anchor is None:
            raise NotFound(f"no {what} '{after}'", "page with an id from the previous page")
        column, row_id = f"{alias}{key}", f"{alias}id"
        where.append(f"({column} {beyond} ? OR ({column} = ? AND {row_id} {beyond} ?))")
        params += [anchor[0], anchor[0], after]
    return direction
