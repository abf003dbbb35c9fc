"""Which conversation a front end's turn goes to (the agent's own, or one named by the user),
starting and forking them, and the system message each lists first.

The log's system message is the one the model last read in that conversation (kept by each step),
not the one it would read now: a block changed between turns reaches the next step's prompt, and
the log shows it from then on, or at once after a recompile (Letta's behaviour). A new
conversation starts with the prompt as it is at its creation."""

from __future__ import annotations

from memos.core.context import compile_context
from memos.errors import NotFound
from memos.store import ids
from memos.store.base import Agent, Conversation, Store

DEFAULT = "default"  # the agent's own conversation, as Letta names it


def open_conversation(store: Store, agent: Agent, name_or_id: str | None,
                      *, create: bool = True) -> tuple[Conversation | None, bool]:
    """The agent's conversation called ``name_or_id`` (None or "default": its own, as None), and
    whether it was created just now: a name not used yet starts a conversation, as `tmux new -A`
    does, so `memos send -c ticket-42` needs no setup. An id that does not exist is an error."""
    if name_or_id is None or name_or_id == DEFAULT:
        return None, False
    try:
        return store.find_conversation(agent.id, name_or_id), False
    except NotFound:
        if not create or ids.looks_like("conv", name_or_id):
            raise
    return start_conversation(store, agent, name=name_or_id), True


def start_conversation(store: Store, agent: Agent, *, name: str | None = None, summary: str | None = None,
                       model: str | None = None) -> Conversation:
    """A new, empty conversation, its system message compiled from memory as it is now."""
    made = store.create_conversation(agent.id, name=name, summary=summary, model=model)
    recompile(store, agent, made.id)
    return made


def fork_conversation(store: Store, agent: Agent, source: str | None, *, name: str | None = None) -> Conversation:
    """A new conversation whose context starts as a copy of ``source``'s (None: the agent's own),
    with its own system message compiled now."""
    made = store.fork_conversation(agent.id, source, name=name)
    recompile(store, agent, made.id)
    return made


def recompile(store: Store, agent: Agent, conversation: str | None, *, dry_run: bool = False) -> str:
    """The conversation's system message compiled from memory now, kept as the one its log
    lists (unless ``dry_run``)."""
    content = current_system_message(store, agent, conversation)
    if not dry_run:
        store.keep_system_message(agent.id, conversation, content)
    return content


def current_system_message(store: Store, agent: Agent, conversation: str | None) -> str:
    """The system message a step of this conversation would send now."""
    return str(compile_context(store, agent, conversation).messages[0]["content"])


def listed_system_message(store: Store, agent: Agent, conversation: str | None) -> str:
    """The system message the conversation's log lists: the one last kept (by a step, a recompile
    or its creation); for a conversation that has none yet (the agent's own before its first
    turn), the one it would read now."""
    kept = store.kept_system_message(agent.id, conversation)
    return kept if kept is not None else current_system_message(store, agent, conversation)
