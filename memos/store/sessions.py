"""What both backends' connection managers share: the session a thread is in, which
nested sessions join, and work to run once it has committed."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LOCK_TIMEOUT = 60.0  # seconds to wait for the database (MEMOS_LOCK_TIMEOUT)


def lock_timeout_from_env() -> float:
    """How long to wait for the database before saying it is busy: MEMOS_LOCK_TIMEOUT seconds."""
    raw = os.environ.get("MEMOS_LOCK_TIMEOUT")
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        return DEFAULT_LOCK_TIMEOUT


@dataclass
class ActiveSession:
    con: Any
    write: bool
    after_commit: list[Callable[[], None]] = field(default_factory=list)


class ThreadSessions:
    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def active(self) -> ActiveSession | None:
        return getattr(self._local, "active", None)

    @active.setter
    def active(self, session: ActiveSession | None) -> None:
        self._local.active = session

    def joined(self, write: bool) -> Any | None:
        """The connection of the session this thread is already in, which a nested one joins."""
        active = self.active
        if active is not None and write and not active.write:
            raise RuntimeError("a write was attempted inside a read-only session")
        return active.con if active is not None else None

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the current write session has committed (at once outside one)."""
        if self.active is None:
            hook()
        else:
            self.active.after_commit.append(hook)

    @property
    def in_session(self) -> bool:
        return self.active is not None
