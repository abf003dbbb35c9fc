"""Identities (Letta's): who is behind agents and blocks, with their links to both."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from memos.errors import AlreadyExists, NotFound
from memos.store import ids
from memos.store.base import Identity, IdentityChange
from memos.store.sql.host import SQLHost
from memos.store.sql.rows import json_value
from memos.store.timeutil import from_db, to_db, utcnow

IDENTITY_TABLES = frozenset({"identities", "identity_members"})  # what list_identities reads (ConnectionMemo)
IDENTITY_COLUMNS = "id, identifier_key, name, identity_type, project_id, properties, created_at, updated_at"
MemberKind = Literal["agent", "block"]


class IdentitiesMixin(SQLHost):
    def _identities(self, con: Any, where: str = "true", params: Sequence[Any] = ()) -> list[Identity]:
        rows = con.execute(f"SELECT {IDENTITY_COLUMNS} FROM identities WHERE {where} ORDER BY created_at, id",
                           list(params)).fetchall()
        members: dict[tuple[str, str], list[str]] = {}
        if rows:
            marks = ", ".join("?" for _ in rows)
            for identity_id, kind, member_id in con.execute(
                    f"SELECT identity_id, kind, member_id FROM identity_members WHERE identity_id IN ({marks}) "
                    "ORDER BY created_at, member_id", [r[0] for r in rows]).fetchall():
                members.setdefault((identity_id, kind), []).append(member_id)
        return [Identity(r[0], r[1], r[2], r[3], r[4], tuple(json_value(r[5], ())),
                         tuple(members.get((r[0], "agent"), ())), tuple(members.get((r[0], "block"), ())),
                         from_db(r[6]), from_db(r[7])) for r in rows]

    def _identity_row(self, con: Any, identity_id: str) -> Identity:
        found = self._identities(con, "id = ?", [identity_id])
        if not found:
            raise NotFound(f"no identity '{identity_id}'", "see GET /v1/identities/")
        return found[0]

    def _key_taken(self, con: Any, identifier_key: str, project_id: str | None, other_than: str | None) -> None:
        # Letta's key is unique per project, a missing project counting as one (nulls not distinct).
        row = con.execute("SELECT id FROM identities WHERE identifier_key = ? AND "
                          "COALESCE(project_id, '') = COALESCE(?, '') AND id <> ?",
                          [identifier_key, project_id, other_than or ""]).fetchone()
        if row is not None:
            raise AlreadyExists(f"an identity with identifier_key '{identifier_key}' already exists ({row[0]})",
                                "upsert it (PUT /v1/identities/) or choose another key")

    def _set_members(self, con: Any, identity_id: str, kind: MemberKind, member_ids: Sequence[str],
                     replace: bool) -> None:
        for member_id in member_ids:  # every one must exist: nothing is written otherwise
            if kind == "agent":
                self._agent_row(con, member_id)
            elif con.execute("SELECT 1 FROM blocks WHERE id = ?", [member_id]).fetchone() is None:
                raise NotFound(f"no block '{member_id}'", "see GET /v1/blocks/")
        if replace:
            con.execute("DELETE FROM identity_members WHERE identity_id = ? AND kind = ?", [identity_id, kind])
        for member_id in dict.fromkeys(member_ids):
            self._link(con, identity_id, kind, member_id)

    @staticmethod
    def _link(con: Any, identity_id: str, kind: MemberKind, member_id: str) -> None:
        con.execute("DELETE FROM identity_members WHERE identity_id = ? AND kind = ? AND member_id = ?",
                    [identity_id, kind, member_id])
        con.execute("INSERT INTO identity_members (identity_id, kind, member_id, created_at) VALUES (?, ?, ?, ?)",
                    [identity_id, kind, member_id, to_db(utcnow())])

    def create_identity(self, identifier_key: str, name: str, identity_type: str, *, project_id: str | None = None,
                        properties: Sequence[dict[str, Any]] = (), agent_ids: Sequence[str] = (),
                        block_ids: Sequence[str] = ()) -> Identity:
        now, identity_id = to_db(utcnow()), ids.new_id("identity")
        with self._write() as con:
            self._lock(con, f"identity-key:{identifier_key}")  # two creators of one key: one wins
            self._key_taken(con, identifier_key, project_id, None)
            con.execute(f"INSERT INTO identities ({IDENTITY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [identity_id, identifier_key, name, identity_type, project_id,
                         json.dumps(list(properties)), now, now])
            self._set_members(con, identity_id, "agent", agent_ids, replace=True)
            self._set_members(con, identity_id, "block", block_ids, replace=True)
            return self._identity_row(con, identity_id)

    def find_identity(self, identifier_key: str, project_id: str | None) -> Identity | None:
        with self._read() as con:
            found = self._identities(con, "identifier_key = ? AND COALESCE(project_id, '') = COALESCE(?, '')",
                                     [identifier_key, project_id])
        return found[0] if found else None

    def get_identity(self, identity_id: str) -> Identity:
        with self._read() as con:
            return self._identity_row(con, identity_id)

    def list_identities(self) -> list[Identity]:
        with self._read() as con:  # read with every agent shaped for a client: again only after a write
            return list(self._db.memo.read(("identities",), IDENTITY_TABLES, lambda: tuple(self._identities(con))))

    def update_identity(self, identity_id: str, change: IdentityChange) -> Identity:
        with self._write() as con:
            current = self._identity_row(con, identity_id)
            self._lock(con, current.id)
            key = change.identifier_key if change.identifier_key is not None else current.identifier_key
            if key != current.identifier_key:
                self._key_taken(con, key, current.project_id, current.id)
            properties: list[dict[str, Any]] = list(current.properties)
            if change.properties is not None:
                merged = {} if change.replace else {p["key"]: p for p in current.properties}
                properties = list((merged | {p["key"]: p for p in change.properties}).values())
            con.execute("UPDATE identities SET identifier_key = ?, name = ?, identity_type = ?, properties = ?, "
                        "updated_at = ? WHERE id = ?",
                        [key, change.name if change.name is not None else current.name,
                         change.identity_type if change.identity_type is not None else current.identity_type,
                         json.dumps(properties), to_db(utcnow()), current.id])
            if change.agent_ids is not None:
                self._set_members(con, current.id, "agent", change.agent_ids, change.replace)
            if change.block_ids is not None:
                self._set_members(con, current.id, "block", change.block_ids, change.replace)
            return self._identity_row(con, current.id)

    def delete_identity(self, identity_id: str) -> None:
        with self._write() as con:
            current = self._identity_row(con, identity_id)
            con.execute("DELETE FROM identity_members WHERE identity_id = ?", [current.id])
            con.execute("DELETE FROM identities WHERE id = ?", [current.id])

    def link_identity(self, identity_id: str, kind: MemberKind, member_id: str, linked: bool) -> None:
        with self._write() as con:
            current = self._identity_row(con, identity_id)
            if linked:
                self._set_members(con, current.id, kind, [member_id], replace=False)
            else:
                con.execute("DELETE FROM identity_members WHERE identity_id = ? AND kind = ? AND member_id = ?",
                            [current.id, kind, member_id])
