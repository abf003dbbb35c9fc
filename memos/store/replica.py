"""Who this process is among the processes sharing a store: the replica id that `/v1/health`
reports, that leases name as their holder, and that PostgreSQL sessions carry as their
``application_name`` (so a replica that took over a hung one's lease can end its sessions)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname()


def replica_id() -> str:
    """MEMOS_REPLICA_ID when set (a pod's name, say), else host and pid. Unique per process
    either way: the pid is added to a given id, since one replica may run several processes."""
    given = os.environ.get("MEMOS_REPLICA_ID", "").strip()
    return f"{given or _host()}:{os.getpid()}"


def session_label(role: str = "") -> str:
    """The application_name of this process's database sessions (PostgreSQL keeps 63 bytes)."""
    return f"memos {replica_id()}{' ' + role if role else ''}"[:63]
