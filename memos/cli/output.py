"""How commands write: data to stdout (rich on a TTY, plain in a pipe, JSON with --json),
diagnostics to stderr. NO_COLOR is honoured by Rich itself."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@lru_cache(maxsize=1)
def out() -> Console:
    from rich.console import Console  # lazily: `memos --help` must stay fast

    return Console(file=sys.stdout, highlight=False, soft_wrap=not sys.stdout.isatty())


@lru_cache(maxsize=1)
def err() -> Console:
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def is_terminal(stream: Any) -> bool:
    """Whether Rich would treat ``stream`` as a terminal (FORCE_COLOR and TTY_COMPATIBLE as it reads
    them), told without importing Rich: a pipe gets plain text, and Rich costs 15 ms to import."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return value


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def plain(text: str) -> None:
    """Raw text to stdout, exactly as given (block values, passage text)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A diagnostic line for people, on stderr."""
    if is_terminal(sys.stderr):
        err().print(message, markup=False, highlight=False)
    else:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


def warn(message: str) -> None:
    if is_terminal(sys.stderr):
        err().print(f"warning: {message}", style="yellow", markup=False)
    else:
        sys.stderr.write(f"warning: {message}\n")
        sys.stderr.flush()


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
    """A table on a terminal; tab-separated lines with a header in a pipe."""
    rows = list(rows)
    if is_terminal(sys.stdout):
        from rich.table import Table
        from rich.text import Text

        console = out()
        grid = Table(title=title, show_edge=False, header_style="bold")
        for column in columns:
            grid.add_column(column, overflow="fold")
        for row in rows:
            # Text, not str: a cell is data, never markup ("[bold]" in a name stays as typed).
            grid.add_row(*[Text("" if cell is None else str(cell)) for cell in row])
        console.print(grid)
    else:
        lines = ["\t".join(columns)] + ["\t".join("" if c is None else str(c).replace("\n", " ") for c in r) for r in rows]
        plain("\n".join(lines))


def shorten(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
