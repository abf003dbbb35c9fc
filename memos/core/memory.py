"""Core memory blocks: edits with limits, read-only rules, history, undo and rollback.

Every edit is a change function handed to `Store.modify_block`, so the check
(limit, read-only, old text present) and the write happen in one transaction
against the value as it is now, even with other processes editing too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from memos.core.limits import MAX_NAME_CHARS
from memos.errors import EditConflict, InvalidInput, LimitExceeded, NotFound, ReadOnly
from memos.store.base import Actor, Agent, Block, BlockChange, BlockVersion, NewBlock, Store

AGENT_ACTORS = {"agent", "sleep"}
MAX_BLOCK_LIMIT = 100_000  # Letta's CORE_MEMORY_BLOCK_CHAR_LIMIT


def check_limit_range(limit: int, label: str | None = None) -> int:
    """A block limit memos takes: 1 to MAX_BLOCK_LIMIT chars."""
    if not 0 < limit <= MAX_BLOCK_LIMIT:
        subject = f"block '{label}' has limit {limit:,}; a block limit" if label else "a block limit"
        raise InvalidInput(f"{subject} must be between 1 and {MAX_BLOCK_LIMIT:,} chars")
    return limit


@dataclass(frozen=True)
class Edit:
    before: Block
    after: Block

    @property
    def changed(self) -> bool:
        return self.before.value != self.after.value or self.before.limit != self.after.limit \
            or self.before.read_only != self.after.read_only or self.before.description != self.after.description


def check_limit(label: str, value: str, limit: int) -> None:
    """A value the block can hold: within its limit, and no NUL byte (refused the same way
    everywhere; PostgreSQL cannot store one at all)."""
    if "\x00" in value:
        raise InvalidInput(f"the new value of block '{label}' contains a NUL byte", "give plain text")
    if len(value) > limit:
        raise LimitExceeded(
            f"block '{label}' would be {len(value):,} chars, limit {limit:,}",
            f"shorten it or raise the limit with `memos memory update {label} --limit N`",
        )


def _check_writable(block: Block, actor: Actor) -> None:
    if block.read_only and actor in AGENT_ACTORS:
        raise ReadOnly(f"block '{block.label}' is read-only", "only a person can edit it")


def _check_version(current: Block, expect_version: int | None) -> None:
    if expect_version is not None and current.version != expect_version:
        raise EditConflict(
            f"block '{current.label}' changed since you read it (you read version {expect_version}, it is now "
            f"version {current.version}), so your rewrite was not applied. Its value now is:\n{current.value}",
            "redo the edit against this value")


def _value_edit(store: Store, agent: Agent, label: str, compute: Callable[[Block], str], *,
                actor: Actor, reason: str, restored_from: int | None = None,
                expect_version: int | None = None) -> Edit:
    """``expect_version``: a compare-and-set. The edit applies only if the block is still at the
    version the editor based it on; a rewrite never overwrites a change it has not seen."""
    block = store.get_agent_block(agent.id, label)

    def change(current: Block) -> BlockChange:
        _check_version(current, expect_version)
        _check_writable(current, actor)
        value = compute(current)
        check_limit(current.label, value, current.limit)
        return BlockChange(value, current.limit, current.description, current.read_only)

    before, after = store.modify_block(block.id, change, actor=actor, reason=reason, restored_from=restored_from)
    return Edit(before, after)


def set_value(store: Store, agent: Agent, label: str, value: str, *, actor: Actor = "user",
              reason: str = "set", expect_version: int | None = None) -> Edit:
    return _value_edit(store, agent, label, lambda _: value, actor=actor, reason=reason,
                       expect_version=expect_version)


def append(store: Store, agent: Agent, label: str, text: str, *, actor: Actor = "user",
           reason: str = "append") -> Edit:
    if not text:
        raise InvalidInput("nothing to append", "give the text to append")
    return _value_edit(store, agent, label,
                       lambda b: f"{b.value}\n{text}" if b.value else text, actor=actor, reason=reason)


def replace(store: Store, agent: Agent, label: str, old: str, new: str, *, actor: Actor = "user",
            reason: str = "replace", replace_all: bool = False) -> Edit:
    if not old:
        raise InvalidInput("the text to replace is empty", "give the exact text to replace")

    def compute(block: Block) -> str:
        count = block.value.count(old)
        if count == 0:
            raise NotFound(f"the text to replace does not occur in block '{block.label}'",
                           f"check it with `memos memory show {block.label}` and copy it exactly")
        if count > 1 and not replace_all:
            raise InvalidInput(f"the text to replace occurs {count} times in block '{block.label}'",
                               "include more surrounding text to make it unique, or pass --all")
        return block.value.replace(old, new)

    return _value_edit(store, agent, label, compute, actor=actor, reason=reason)


def insert_at_line(store: Store, agent: Agent, label: str, text: str, line: int = -1, *,
                   actor: Actor = "agent", reason: str = "insert") -> Edit:
    def compute(block: Block) -> str:
        lines = block.value.split("\n") if block.value else []
        if line == -1:
            lines.append(text)
        elif 0 <= line <= len(lines):
            lines.insert(line, text)
        else:
            raise InvalidInput(f"line {line} is outside block '{block.label}' (0-{len(lines)}, or -1 for the end)")
        return "\n".join(lines)

    return _value_edit(store, agent, label, compute, actor=actor, reason=reason)


def transform(store: Store, agent: Agent, label: str, compute: Callable[[str], str], *, actor: Actor,
              reason: str, expect_version: int | None = None) -> Edit:
    """Edit a block with a function of its current value (checked and written atomically)."""
    return _value_edit(store, agent, label, lambda block: compute(block.value), actor=actor, reason=reason,
                       expect_version=expect_version)


def check_label(label: str) -> str:
    if not label.strip() or any(ch.isspace() for ch in label) or len(label) > MAX_NAME_CHARS:
        raise InvalidInput(f"'{label}' is not a valid block label", "use one word, e.g. projects or notes")
    return label


def relabel(store: Store, block: Block, label: str, *, actor: Actor = "user") -> Block:
    """A person renames a block (an agent cannot: its prompt names blocks by label)."""
    if actor in AGENT_ACTORS:
        raise ReadOnly("only a person can rename a block")
    return block if label == block.label else store.relabel_block(block.id, check_label(label))


def create(store: Store, agent: Agent, label: str, value: str, *, limit: int, description: str = "",
           read_only: bool = False, actor: Actor = "user") -> Block:
    check_label(label)
    check_limit_range(limit)
    check_limit(label, value, limit)
    return store.create_block(NewBlock(label, value, limit, description, read_only), actor=actor,
                              reason="created", agent_id=agent.id)


def update_settings(store: Store, agent: Agent, label: str, *, limit: int | None = None,
                    read_only: bool | None = None, description: str | None = None,
                    actor: Actor = "user") -> Edit:
    block = store.get_agent_block(agent.id, label)
    if limit is not None:
        check_limit_range(limit)

    def change(current: Block) -> BlockChange:
        if actor in AGENT_ACTORS:
            raise ReadOnly("only a person can change a block's settings")
        new_limit = current.limit if limit is None else limit
        if len(current.value) > new_limit:
            raise LimitExceeded(
                f"block '{current.label}' holds {len(current.value):,} chars, more than the new limit {new_limit:,}",
                "shorten the block first",
            )
        return BlockChange(current.value, new_limit,
                           current.description if description is None else description,
                           current.read_only if read_only is None else read_only)

    before, after = store.modify_block(block.id, change, actor=actor, reason="settings")
    return Edit(before, after)


def delete(store: Store, agent: Agent, label: str) -> Block:
    block = store.get_agent_block(agent.id, label)
    others = [a for a in block.agent_ids if a != agent.id]
    if others:
        raise InvalidInput(f"block '{label}' is shared with {len(others)} other agent(s)",
                           f"detach it from this agent with `memos memory detach {label}` instead")
    store.delete_block(block.id)
    return block


def attach(store: Store, agent: Agent, block_id: str) -> Block:
    from memos.core.sleeptime import share_block

    block = store.attach_block(agent.id, block_id)
    share_block(store, agent, block.id, attach=True)  # its sleep-time agent keeps the same memory
    return block


def detach(store: Store, agent: Agent, label: str) -> Block:
    from memos.core.sleeptime import share_block

    block = store.get_agent_block(agent.id, label)
    store.detach_block(agent.id, block.id)
    share_block(store, agent, block.id, attach=False)
    return block


def history(store: Store, agent: Agent, label: str) -> list[BlockVersion]:
    return store.block_history(store.get_agent_block(agent.id, label).id)


def rollback(store: Store, agent: Agent, label: str, version: int, *, actor: Actor = "user",
             reason: str | None = None) -> Edit:
    versions = {v.version: v for v in history(store, agent, label)}
    if version not in versions:
        raise NotFound(f"block '{label}' has no version {version}",
                       f"versions are 1-{max(versions)}; see `memos memory history {label}`")
    target = versions[version].new_value
    return _value_edit(store, agent, label, lambda _: target, actor=actor,
                       reason=reason or f"rollback to version {version}", restored_from=version)


def undo(store: Store, agent: Agent, label: str, *, actor: Actor = "user") -> Edit:
    """Step back one change. Repeated undos keep walking back through the history."""
    versions = history(store, agent, label)
    latest = versions[-1]
    origin = latest.restored_from if latest.restored_from is not None else latest.version
    if origin <= 1:
        raise InvalidInput(f"nothing to undo in block '{label}'", "it is at its first version")
    return rollback(store, agent, label, origin - 1, actor=actor, reason=f"undo to version {origin - 1}")



def edit_block(store: Store, block_id: str, *, value: str | None = None, limit: int | None = None,
               description: str | None = None, read_only: bool | None = None, actor: Actor = "user",
               reason: str = "set") -> Edit:
    """Change any of a block's value and settings in one checked write (the API's PATCH)."""
    if limit is not None:
        check_limit_range(limit)

    def change(current: Block) -> BlockChange:
        if value is not None:
            _check_writable(current, actor)
        if actor in AGENT_ACTORS and (limit, description, read_only) != (None, None, None):
            raise ReadOnly("only a person can change a block's settings")
        new_value = current.value if value is None else value
        new_limit = current.limit if limit is None else limit
        check_limit(current.label, new_value, new_limit)
        return BlockChange(new_value, new_limit, current.description if description is None else description,
                           current.read_only if read_only is None else read_only)

    before, after = store.modify_block(block_id, change, actor=actor, reason=reason)
    return Edit(before, after)


def create_shared(store: Store, label: str, value: str, *, limit: int, description: str = "",
                  read_only: bool = False) -> Block:
    """A block that belongs to no agent yet (attach it to several to share it)."""
    if not label.strip() or any(ch.isspace() for ch in label):
        raise InvalidInput(f"'{label}' is not a valid block label", "use one word, e.g. projects or notes")
    check_limit_range(limit)
    check_limit(label, value, limit)
    return store.create_block(NewBlock(label, value, limit, description, read_only), actor="user", reason="created")
