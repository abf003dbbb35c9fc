"""Which identities an agent or block belongs to, set as a whole (Letta's ``identity_ids``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, TypeVar

from memos.store.base import Identity, Store


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


M = TypeVar("M", bound=_HasId)


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


def belonging(store: Store, members: Sequence[M], kind: Literal["agent", "block"], identity_id: str | None,
              identifier_keys: Sequence[str] | None) -> list[M]:
    """Of ``members`` (agents or blocks), in their order, those belonging to the identity
    ``identity_id`` and to one of ``identifier_keys`` (each filter applies only when given)."""
    if not identity_id and not identifier_keys:
        return list(members)
    identities = store.list_identities()
    kept = {m.id for m in members}
    for wanted, match in ((identity_id, lambda i: i.id == identity_id),
                          (identifier_keys, lambda i: i.identifier_key in (identifier_keys or ()))):
        if wanted:
            chosen = [i for i in identities if match(i)]
            kept &= {m for i in chosen for m in (i.agent_ids if kind == "agent" else i.block_ids)}
    return [m for m in members if m.id in kept]
