"""Writing files whole or not at all: a reader (or a crash) never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from memos.errors import InvalidInput


def write_atomically(path: str | Path, text: str, *, make_parents: bool = True, private: bool = True) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it into place. Without
    ``make_parents`` (a path a user typed) a missing directory is an error, not created; without
    ``private`` the file gets the permissions the user's umask gives (an export, not a config)."""
    target = Path(path)
    if not make_parents and not target.parent.is_dir():
        raise InvalidInput(f"cannot write {target}: no directory {target.parent}", "create it first, or pick another path")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise InvalidInput(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if not private:
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except IsADirectoryError:
        Path(tmp).unlink(missing_ok=True)
        raise InvalidInput(f"{target} is a directory") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_bytes(path: str | Path, *, limit: int | None = None, what: str = "a file") -> bytes:
    """A file's bytes, or one line saying why not; with ``limit``, a bigger file is refused
    before it is read."""
    file = Path(path)
    try:
        if limit is not None:
            size = file.stat().st_size
            if size > limit:
                raise InvalidInput(f"{file} is {size / 1024 / 1024:,.0f} MB; memos reads {what} up to "
                                   f"{limit // 1024 // 1024} MB")
        return file.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {file}") from None
    except IsADirectoryError:
        raise InvalidInput(f"{file} is a directory, not {what}") from None
    except PermissionError:
        raise InvalidInput(f"cannot read {file}: permission denied") from None
