"""What both backends' connection managers share: the session a thread is in, which
nested sessions join, and work to run once it has committed."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast

T = TypeVar("T")

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
    after_commit: list[Callable[[], object]] = field(default_factory=list)
    hook_keys: set[str] = field(default_factory=set)  # of hooks asked for once per session


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

    def after_commit(self, hook: Callable[[], object], *, once: str | None = None) -> None:
        """Run ``hook`` once the current write session has committed (at once outside one).
        With ``once``, a second hook of that key in the same session is dropped: a bulk import
        of many batches in one transaction catches an index up once, not once per batch."""
        active = self.active
        if active is None:
            hook()
        elif once is None or once not in active.hook_keys:
            if once is not None:
                active.hook_keys.add(once)
            active.after_commit.append(hook)

    @property
    def in_session(self) -> bool:
        return self.active is not None


# The table a statement writes, for the statements memos writes with; anything else that is not
# a SELECT (DDL, a CTE, a quoted name) forgets every remembered read.
_WRITTEN_TABLE = re.compile(r"\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.IGNORECASE)
_READ_ONLY = re.compile(r"\s*SELECT\b", re.IGNORECASE)


class ConnectionMemo:
    """Facts read from the database that stay true while this process alone may write it.

    DuckDB's kept write connection excludes every other writer (duckdb/connection.py), so the
    next message seq, which agents have messages and which have no pending tool call need not
    be read again each step; the memo is cleared whenever that connection is dropped. On
    PostgreSQL others write at any time, so its memo is disabled: it remembers nothing.

    It also remembers whole reads that a turn makes several times and that rarely change (an
    agent's row, tools, folders, blocks, the groups): each names the tables it reads, and every
    statement of a write session in this process (`wrote`) forgets the reads of the table it
    writes, before it runs, so a read later in the same transaction sees the write.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._next_message_seq: int | None = None
        self._agents_with_messages: set[str] = set()
        self._agents_without_pending: set[str] = set()
        self._reads: dict[tuple[Any, ...], tuple[frozenset[str], Any]] = {}

    def clear(self) -> None:
        self._next_message_seq = None
        self._agents_with_messages.clear()
        self._agents_without_pending.clear()
        self._reads.clear()

    def read(self, key: tuple[Any, ...], tables: frozenset[str], load: Callable[[], T]) -> T:
        """What ``load`` returns, read once while nobody writes ``tables`` (call it inside the
        session whose connection ``load`` uses: the memo lives as long as that connection)."""
        if not self.enabled:
            return load()
        found = self._reads.get(key)
        if found is not None:
            return cast(T, found[1])
        value = load()
        self._reads[key] = (tables, value)
        return value

    def known(self, key: tuple[Any, ...]) -> Any | None:
        """A remembered read, if it is remembered (None: read it)."""
        found = self._reads.get(key)
        return None if found is None else found[1]

    def kept(self, prefix: tuple[Any, ...]) -> dict[tuple[Any, ...], Any]:
        """The remembered reads whose key starts with ``prefix``: a write that knows how it
        changes them takes them before its statement forgets them, and `put`s them back changed."""
        return {key: value for key, (_, value) in self._reads.items() if key[:len(prefix)] == prefix}

    def forget(self, key: tuple[Any, ...]) -> None:
        self._reads.pop(key, None)

    def put(self, key: tuple[Any, ...], tables: frozenset[str], value: Any) -> None:
        if self.enabled:
            self._reads[key] = (tables, value)

    def wrote(self, sql: str) -> None:
        """A statement about to run in a write session: forget the reads it may change."""
        if not self._reads:
            return
        written = _WRITTEN_TABLE.match(sql)
        if written is None:
            if _READ_ONLY.match(sql) is None:
                self._reads.clear()
            return
        table = written.group(1).lower()
        for key in [k for k, (tables, _) in self._reads.items() if table in tables]:
            del self._reads[key]

    def next_message_seq(self, agent_id: str) -> int | None:
        """The seq the agent's next message gets, if known (and the agent known to exist)."""
        if agent_id in self._agents_with_messages:
            return self._next_message_seq
        return None

    def messages_appended(self, agent_id: str, next_seq: int) -> None:
        if self.enabled:
            self._next_message_seq = next_seq
            self._agents_with_messages.add(agent_id)

    def has_no_pending_calls(self, agent_id: str) -> bool:
        return agent_id in self._agents_without_pending

    def no_pending_calls(self, agent_id: str) -> None:
        if self.enabled:
            self._agents_without_pending.add(agent_id)

    def pending_call_added(self, agent_id: str) -> None:
        self._agents_without_pending.discard(agent_id)


class Sessions(Protocol):
    """A backend's connection manager, as the shared SQL store uses it."""

    memo: ConnectionMemo

    def session(self, *, write: bool) -> AbstractContextManager[Any]:
        """A connection for one read, or one write transaction (nested sessions join)."""

    def after_commit(self, hook: Callable[[], object], *, once: str | None = None) -> None: ...

    @property
    def in_session(self) -> bool: ...

    def close(self) -> None: ...
