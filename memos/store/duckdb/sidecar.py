"""What the two per-agent indexes kept beside a DuckDB file share (vector_index.py,
text_index.py): one directory per kind, and for each agent a JSON meta file (the store id, so
another database's files are never used, and a watermark) and a lock file. Index files are
written before their meta file, both by atomic rename, so a reader never sees a watermark
ahead of its index; readers reopen an index when its meta file's stamp changes."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

State = TypeVar("State")


class Sidecars(Generic[State]):
    def __init__(self, directory: Path, store_id: str) -> None:
        self.directory = directory
        self.store_id = store_id
        self._cache: dict[str, tuple[tuple[int, ...], State]] = {}
        self._cache_lock = threading.Lock()

    def _meta_path(self, agent_id: str) -> Path:
        return self.directory / f"{agent_id}.json"

    def _read_meta(self, meta_path: Path) -> dict[str, Any] | None:
        """The meta file, or None if it is missing, unreadable or another database's."""
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return meta if meta.get("store_id") == self.store_id else None

    def _stamp(self, agent_id: str) -> tuple[int, ...] | None:
        try:
            stat = self._meta_path(agent_id).stat()
        except FileNotFoundError:
            return None
        return stat.st_mtime_ns, stat.st_ino

    def _cached(self, agent_id: str, stamp: tuple[int, ...]) -> State | None:
        with self._cache_lock:
            known = self._cache.get(agent_id)
        return known[1] if known and known[0] == stamp else None

    def _remember(self, agent_id: str, stamp: tuple[int, ...], state: State) -> State:
        with self._cache_lock:
            self._cache[agent_id] = (stamp, state)
        return state

    def _forget(self, agent_id: str) -> None:
        with self._cache_lock:
            self._cache.pop(agent_id, None)

    @contextmanager
    def _locked(self, agent_id: str) -> Iterator[Path]:
        """This agent's lock, across processes; yields its meta file's path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / f"{agent_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self._meta_path(agent_id)
        finally:
            os.close(fd)  # releases the flock

    def _write_meta(self, meta_path: Path, **fields: Any) -> None:
        text = json.dumps({"store_id": self.store_id, **fields})
        self._atomic(meta_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def _drop_files(self, agent_id: str) -> None:
        self._meta_path(agent_id).unlink(missing_ok=True)
        (self.directory / f"{agent_id}.lock").unlink(missing_ok=True)
        self._forget(agent_id)

    @staticmethod
    def _atomic(target: Path, write: Callable[[str], Any]) -> None:
        """Write through a temporary file, flushed to disk before it takes the name and the
        rename flushed after: after a power cut the name holds the old file or the whole new
        one, never an empty or truncated file (which readers would have to distrust)."""
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            write(tmp)
            _fsync(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync(str(target.parent))


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
