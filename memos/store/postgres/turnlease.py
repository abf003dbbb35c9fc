"""The PostgreSQL turn lock (memos/store/turnlock.py says what a turn lock is for): a session
advisory lock, plus a lease with a heartbeat and a fencing token so a hung holder loses the turn."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from memos.store.postgres.connection import connect
from memos.store.replica import replica_id


def _lease_seconds() -> float:
    """How long a turn holder may go without renewing before it is taken to be hung:
    MEMOS_TURN_LEASE_SECONDS (default 20, at least 2); the heartbeat renews at a quarter of it."""
    try:
        return max(2.0, float(os.environ.get("MEMOS_TURN_LEASE_SECONDS", "20")))
    except ValueError:
        return 20.0


def lease_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (computed here so holder() and doctor find it in pg_locks)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


IDLE_SESSIONS = 8  # lock sessions a process keeps open between turns (a new one costs ~10 ms)
_idle: dict[str, list[Any]] = {}
_idle_lock = threading.Lock()


def _idle_session(url: str) -> Any:
    """A session of this process's for turn locks: an idle one holding no lock, else a new one.
    Its lease writes do not wait for the WAL to reach disk (synchronous_commit off): a lease is
    worth nothing after a server crash, which ends every session and lock anyway."""
    while True:
        with _idle_lock:
            kept = _idle.get(url)
            con = kept.pop() if kept else None
        if con is None:
            break
        try:
            con.execute("SELECT 1")  # ended by the server meanwhile (a replica that took a turn over)?
            return con
        except Exception:  # noqa: BLE001 - then it is dropped, and the next one tried
            con.close()
    con = connect(url, "turn")
    con.execute("SET synchronous_commit TO off")
    return con


def _keep_idle(url: str, con: Any) -> None:
    with _idle_lock:
        kept = _idle.setdefault(url, [])
        if len(kept) < IDLE_SESSIONS:
            kept.append(con)
            return
    con.close()


class AdvisoryTurnLock:
    """A PostgreSQL session advisory lock, held on a connection of its own, and a lease.

    Fair in the same way as `FileTurnLock`: a waiter holds a shared advisory lock on a second
    key, and a newcomer that finds it held waits too instead of taking the turn first. The
    connection lives from the first try to `release`; closing it lets go of both locks, and
    so does the server when the process dies. ``check_lease(name, token)`` runs in the caller's
    write transaction (the store's) and raises `TurnLost` when the token is no longer current."""

    def __init__(self, url: str, name: str, check_lease: Callable[[str, int], None]) -> None:
        self.url = url
        self.name = name
        self.key = lease_key(name)
        self.waiting_key = lease_key(name + ":waiting")
        self._check_lease = check_lease
        self._con: Any | None = None
        self._in_line = False
        self.token: int | None = None
        self._beating: threading.Event | None = None
        self._looked_at = float("-inf")
        self.lease_seconds = _lease_seconds()

    def _session(self) -> Any:
        if self._con is None:
            self._con = _idle_session(self.url)
        return self._con

    def _others_waiting(self, con: Any) -> bool:
        if con.execute("SELECT pg_try_advisory_lock(%s)", [self.waiting_key]).fetchone()[0]:
            con.execute("SELECT pg_advisory_unlock(%s)", [self.waiting_key])
            return False
        return True

    def _wait_in_line(self, con: Any) -> None:
        if not self._in_line:
            # Blocks only while a newcomer's probe holds the key exclusively, for microseconds.
            con.execute("SELECT pg_advisory_lock_shared(%s)", [self.waiting_key])
            self._in_line = True

    def try_acquire(self) -> bool:
        con = self._session()
        try:
            if not self._in_line and self._others_waiting(con):
                self._wait_in_line(con)  # others were first
                return False
            if not con.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()[0]:
                self._take_over_if_hung(con)
                self._wait_in_line(con)
                return False
            if self._in_line:
                con.execute("SELECT pg_advisory_unlock_shared(%s)", [self.waiting_key])
                self._in_line = False
            self._lease(con)
            return True
        except BaseException:
            self.release()
            raise

    def _lease(self, con: Any) -> None:
        """The lock is ours: so is the turn, under a new token; renewed until release."""
        self.token = int(con.execute(
            "INSERT INTO turn_leases (name, holder, token, expires_at) "
            "VALUES (%s, %s, 1, now() + make_interval(secs => %s)) ON CONFLICT (name) DO UPDATE SET "
            "holder = EXCLUDED.holder, token = turn_leases.token + 1, expires_at = EXCLUDED.expires_at "
            "RETURNING token", [self.name, replica_id(), self.lease_seconds]).fetchone()[0])
        beating = self._beating = threading.Event()
        token = self.token

        def beat() -> None:
            while not beating.wait(self.lease_seconds / 4):
                try:
                    con.execute("UPDATE turn_leases SET expires_at = now() + make_interval(secs => %s) "
                                "WHERE name = %s AND token = %s", [self.lease_seconds, self.name, token])
                except Exception:  # noqa: BLE001 - the session was ended (taken over): fence() says so
                    return

        threading.Thread(target=beat, name="memos-turn-lease", daemon=True).start()

    def _take_over_if_hung(self, con: Any) -> None:
        """The lock is held. If its holder's lease has lapsed, the holder is hung (a dead one's
        session would have let go): end its sessions, so its lock is freed for the next try."""
        if time.monotonic() - self._looked_at < self.lease_seconds / 20:
            return  # a waiter tries every few ms; a lease lapses in seconds
        self._looked_at = time.monotonic()
        row = con.execute("SELECT holder FROM turn_leases WHERE name = %s AND expires_at < now()",
                          [self.name]).fetchone()
        if row and row[0]:
            con.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s OR application_name LIKE %s",
                        [f"memos {row[0]}", f"memos {row[0]} %"])

    def fence(self) -> None:
        if self.token is not None:
            self._check_lease(self.name, self.token)

    def holder(self) -> str | None:
        unsigned = self.key & 0xFFFFFFFFFFFFFFFF
        with connect(self.url, "probe") as con:
            row = con.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' AND l.objsubid = 1 "
                "AND l.classid = %s::bigint AND l.objid = %s::bigint",
                [unsigned >> 32, unsigned & 0xFFFFFFFF]).fetchone()
        if not row or not row[0]:
            return None
        where, _, pid = str(row[0]).removeprefix("memos ").removesuffix(" turn").rpartition(":")
        return f"pid {pid} on {where}" if where else f"pid {pid}"

    def release(self) -> None:
        """Give the turn back, or leave the line, at once; then close the session."""
        self._in_line = False
        if self._beating is not None:
            self._beating.set()
            self._beating = None
        if self._con is not None:
            con, self._con = self._con, None
            try:
                if self.token is not None:  # the lease ends now, not when it would lapse
                    con.execute("UPDATE turn_leases SET holder = NULL, expires_at = now() WHERE name = %s AND token = %s",
                                [self.name, self.token])
                # A turn handed over must be free when release() returns: let go explicitly
                # (closing lets go only once the server's backend has exited).
                con.execute("SELECT pg_advisory_unlock_all()")
                _keep_idle(self.url, con)
            except Exception:  # a broken session: the server drops its locks with it
                con.close()
        self.token = None
