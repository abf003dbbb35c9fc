"""What the machines sharing a store keep in it besides agents' data (used where the store's
`cluster` is true): agents' tool code as git packs and branch heads (memos/tools/shared_code.py
reads and writes them), and the cluster's settings (memos/core/config.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from memos.errors import ToolCodeMoved
from memos.store.sql.host import SQLHost
from memos.store.timeutil import to_db, utcnow


class ClusterMixin(SQLHost):
    def tool_code_refs(self, agent_id: str) -> dict[str, str]:
        with self._read() as con:
            return {r[0]: r[1] for r in con.execute(
                "SELECT ref, commit_sha FROM tool_code_refs WHERE agent_id = ?", [agent_id]).fetchall()}

    def tool_code_packs(self, agent_id: str, after: int = 0) -> list[tuple[int, bytes]]:
        with self._read() as con:
            return [(int(r[0]), bytes(r[1])) for r in con.execute(
                "SELECT seq, pack FROM tool_code_packs WHERE agent_id = ? AND seq > ? ORDER BY seq",
                [agent_id, after]).fetchall()]

    def publish_tool_code(self, agent_id: str, pack: bytes | None, expected: Mapping[str, str | None],
                          refs: Mapping[str, str | None]) -> int | None:
        """Add ``pack`` and move ``refs`` (None: delete the ref), in one transaction, if every
        ref still points where ``expected`` says (None: absent); else `ToolCodeMoved` and
        nothing is written. Returns the pack's sequence number."""
        with self._write() as con:
            self._lock(con, f"toolcode:{agent_id}")
            current = {r[0]: r[1] for r in con.execute(
                "SELECT ref, commit_sha FROM tool_code_refs WHERE agent_id = ?", [agent_id]).fetchall()}
            moved = sorted(ref for ref in refs if current.get(ref) != expected.get(ref))
            if moved:
                raise ToolCodeMoved(f"the tool code of agent {agent_id} changed meanwhile ({', '.join(moved)})",
                                    "try again: the change is redone on the newer code")
            seq = None
            now = to_db(utcnow())
            if pack:
                seq = int(con.execute("SELECT coalesce(max(seq), 0) + 1 FROM tool_code_packs WHERE agent_id = ?",
                                      [agent_id]).fetchone()[0])
                con.execute("INSERT INTO tool_code_packs (agent_id, seq, pack, created_at) VALUES (?, ?, ?, ?)",
                            [agent_id, seq, pack, now])
            for ref, sha in refs.items():
                con.execute("DELETE FROM tool_code_refs WHERE agent_id = ? AND ref = ?", [agent_id, ref])
                if sha is not None:
                    con.execute("INSERT INTO tool_code_refs (agent_id, ref, commit_sha, updated_at) "
                                "VALUES (?, ?, ?, ?)", [agent_id, ref, sha, now])
            return seq

    def cluster_settings(self) -> dict[str, Any]:
        with self._read() as con:
            return {r[0]: json.loads(r[1]) for r in con.execute("SELECT key, value FROM cluster_settings").fetchall()}

    def put_cluster_settings(self, values: Mapping[str, Any], *, only_missing: bool = False) -> None:
        now = to_db(utcnow())
        with self._write() as con:
            self._lock(con, "cluster-settings")
            for key, value in values.items():
                exists = con.execute("SELECT 1 FROM cluster_settings WHERE key = ?", [key]).fetchone()
                if exists and only_missing:
                    continue
                con.execute("DELETE FROM cluster_settings WHERE key = ?", [key])
                if value is not None:
                    con.execute("INSERT INTO cluster_settings (key, value, updated_at) VALUES (?, ?, ?)",
                                [key, json.dumps(value), now])
