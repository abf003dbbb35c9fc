"""Which identities an agent or block belongs to, set as a whole (Letta's ``identity_ids``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from memos.store.base import Identity, Store


def check_identities(store: Store, identity_ids: Sequence[str]) -> list[Identity]:
    """The identities named, or NotFound for the first unknown one (before anything is written)."""
    return [store.get_identity(identity_id) for identity_id in identity_ids]


def set_identities(store: Store, kind: Literal["agent", "block"], member_id: str, identity_ids: Sequence[str]) -> None:
    """Make ``identity_ids`` exactly the identities the agent or block belongs to."""
    wanted = {i.id for i in check_identities(store, identity_ids)}
    for identity in store.list_identities():
        has = member_id in (identity.agent_ids if kind == "agent" else identity.block_ids)
        if has != (identity.id in wanted):
            store.link_identity(identity.id, kind, member_id, not has)


def with_identities(members: Sequence[str], identities: Sequence[Identity], kind: Literal["agent", "block"],
                    identity_id: str | None, identifier_keys: Sequence[str] | None) -> set[str]:
    """Of ``members`` (agent or block ids), those belonging to the identity ``identity_id`` and
    to one of ``identifier_keys`` (each filter applies only when given)."""
    kept = set(members)
    for wanted, match in ((identity_id, lambda i: i.id == identity_id),
                          (identifier_keys, lambda i: i.identifier_key in (identifier_keys or ()))):
        if wanted:
            chosen = [i for i in identities if match(i)]
            kept &= {m for i in chosen for m in (i.agent_ids if kind == "agent" else i.block_ids)}
    return kept
