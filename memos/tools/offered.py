"""Which built-in tools an agent is offered: memos's own (only its share of them when it is one
side of a sleep-time pair) and Letta's file tools while a folder is attached. The loop, the
API's tool lists and `memos context` all ask here, so they cannot disagree."""

from __future__ import annotations

from memos.core.sleeptime import builtins_for
from memos.store.base import Agent, Group, Store
from memos.tools.builtins import builtin_specs
from memos.tools.registry import ToolSpec


def offered_builtins(agent_id: str, groups: list[Group], has_folders: bool) -> dict[str, ToolSpec]:
    """From what is known of the agent already: the groups it is in, whether it has folders."""
    kept = builtins_for(groups, agent_id)
    offered = {name: spec for name, spec in builtin_specs().items() if kept is None or name in kept}
    if has_folders:
        from memos.tools.files import FILE_TOOLS

        offered.update(FILE_TOOLS)
    return offered


def offered_for(store: Store, agent: Agent) -> dict[str, ToolSpec]:
    return offered_builtins(agent.id, store.list_groups(agent.id), bool(store.agent_folders(agent.id)))
