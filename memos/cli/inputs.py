"""Where values come from: an argument, stdin (``-`` or a pipe), a file, or $EDITOR."""

from __future__ import annotations

import sys
from pathlib import Path

from memos.core.ingest import decode
from memos.errors import InvalidInput


def stdin_is_piped() -> bool:
    try:
        return not sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def read_stdin() -> str:
    return decode(sys.stdin.buffer.read(), "standard input")


def read_file(path: Path) -> str:
    from memos.core.files import read_bytes

    return decode(read_bytes(path), str(path))


def edit_in_editor(initial: str, what: str) -> str:
    """Open $VISUAL / $EDITOR on ``initial``; an unsaved editor changes nothing."""
    import os
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, name = tempfile.mkstemp(suffix=".md", prefix="memos-")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(initial)
        before = path.stat().st_mtime_ns
        try:
            result = subprocess.run([*shlex.split(editor), str(path)])
        except FileNotFoundError:
            raise InvalidInput(f"cannot start the editor '{editor}'", "set EDITOR, or pass the value as an argument or on stdin") from None
        if result.returncode != 0:
            raise InvalidInput(f"the editor exited with status {result.returncode}; {what} left unchanged")
        if path.stat().st_mtime_ns == before:
            raise InvalidInput(f"the editor closed without saving; {what} left unchanged")
        return decode(path.read_bytes(), "the edited text").rstrip("\n")
    finally:
        path.unlink(missing_ok=True)


def read_value(arg: str | None, *, what: str, initial: str = "", allow_empty: bool = False) -> str:
    """The value of an argument that may also come from stdin or the editor."""
    if arg == "-" or (arg is None and stdin_is_piped()):
        value = read_stdin().rstrip("\n")
    elif arg is None:
        value = edit_in_editor(initial, what)
    else:
        value = arg
    if "\x00" in value:
        raise InvalidInput(f"the {what} contains a NUL byte", "give plain text")
    if not value.strip() and not allow_empty:
        raise InvalidInput(f"the {what} is empty", "give some text (or pass --allow-empty to clear it on purpose)")
    return value
