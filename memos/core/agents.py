"""Creating, renaming and deleting agents (with their home directories)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memos.core import sleeptime
from memos.core.limits import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_SYSTEM_CHARS, check_text
from memos.core.memory import MAX_BLOCK_LIMIT, check_limit_range
from memos.core.prompts import template
from memos.core.workspace import Workspace, check_agent_name
from memos.errors import InvalidInput
from memos.store.base import Agent, AgentCounts, Block, Group, NewAgent, NewBlock

# Letta's defaults for the two standard blocks.
PERSONA_LIMIT = 20_000
HUMAN_LIMIT = 20_000
MIN_CONTEXT_WINDOW = 256
MAX_CONTEXT_WINDOW = 10_000_000  # no model comes near; the column is a 32-bit integer


@dataclass(frozen=True)
class AgentSummary:
    agent: Agent
    counts: AgentCounts
    blocks: list[Block]


def default_blocks(persona: str | None = None, human: str | None = None) -> list[NewBlock]:
    return [
        NewBlock("persona", template("persona_default") if persona is None else persona, PERSONA_LIMIT,
                 "The agent's persona: who it is and how it behaves."),
        NewBlock("human", template("human_default") if human is None else human, HUMAN_LIMIT,
                 "What the agent knows about the person it talks with."),
    ]


def check_blocks(blocks: list[NewBlock]) -> None:
    seen: set[str] = set()
    for block in blocks:
        if not block.label.strip():
            raise InvalidInput("a block label is empty")
        if block.label in seen:
            raise InvalidInput(f"two blocks are labelled '{block.label}'", "give each block its own label")
        seen.add(block.label)
        check_limit_range(block.limit, block.label)
        if len(block.value) > block.limit:
            raise InvalidInput(f"the {block.label} text is {len(block.value):,} chars, limit {block.limit:,}",
                               "shorten it")
        check_text(block.label, "block label", MAX_NAME_CHARS)
        check_text(block.value, f"{block.label} text", MAX_BLOCK_LIMIT)
        check_text(block.description, f"description of block '{block.label}'", MAX_DESCRIPTION_CHARS)


def check_agent_texts(description: str | None, system: str | None) -> None:
    if description is not None:
        check_text(description, "agent description", MAX_DESCRIPTION_CHARS)
    if system is not None:
        check_text(system, "system prompt", MAX_SYSTEM_CHARS)


def create_agent(ws: Workspace, name: str, *, description: str = "", model: str | None = None,
                 embedding_model: str | None = None, context_window: int | None = None,
                 persona: str | None = None, human: str | None = None, system: str | None = None,
                 blocks: list[NewBlock] | None = None, tool_rules: list[dict] | None = None,
                 metadata: dict | None = None, shared_block_ids: Sequence[str] = (),
                 library_tools: Sequence[str] = (), tags: Sequence[str] = (), letta_name: bool = False,
                 max_tokens: int | None = None, response_format: dict[str, Any] | None = None) -> Agent:
    """A new agent; ``blocks`` replaces the default persona and human blocks when given.

    ``shared_block_ids``: existing blocks to attach; ``library_tools``: names of tools from the
    shared library (the API's tools) to copy into the agent's tool repo and attach (built-ins
    are always there). All or nothing: anything that fails removes the agent again."""
    from memos.tools.builtins import builtin_specs

    check_agent_name(name)
    check_agent_texts(description, system)
    chosen = default_blocks(persona, human) if blocks is None else blocks
    check_blocks(chosen)
    rules = _checked_rules(tool_rules, library_tools, any_tool=letta_name) if tool_rules else []
    if context_window is not None:
        check_context_window(context_window)
    if max_tokens is not None:
        check_max_tokens(max_tokens)
    structured = check_response_format(response_format) if response_format is not None else None
    builtins = set(builtin_specs())
    library = {t.name: t for t in ws.store.list_tools() if t.source_type == "python"}
    wanted = [tool for tool in library_tools if tool not in builtins]
    unknown = [tool for tool in wanted if tool not in library]
    if unknown:
        raise InvalidInput(f"unknown tools: {', '.join(unknown)}", "create them first (POST /v1/tools/)")
    for block_id in shared_block_ids:
        ws.store.get_block(block_id)  # a missing block is NotFound before anything is created
    agent = ws.store.create_agent(
        NewAgent(
            name=name,
            description=description,
            system=system or template("system_default"),
            model=model or ws.config.get("default_model"),
            embedding_model=embedding_model or ws.config.get("embedding_model"),
            context_window=context_window or ws.config.get("context_window"),
            tool_rules=rules,
            metadata=metadata or {},
            tags=checked_tags(tags),
            max_tokens=max_tokens,
            response_format=structured,
        ),
        chosen,
        unique_name=not letta_name,
    )
    from memos.tools import library as tool_library
    from memos.tools.repo import ToolRepo
    from memos.tools.shared_code import publish

    try:
        ToolRepo.ensure(own_dir(ws, agent) / "tools", agent.name)  # the agent's own tools, under git
        publish(ws, agent)  # where replicas share the store, they start from this repo
        for block_id in shared_block_ids:
            ws.store.attach_block(agent.id, block_id)
        for tool in wanted:
            tool_library.attach(ws, agent, library[tool])
    except BaseException:
        delete_agent(ws, agent)
        raise
    return ws.store.get_agent(agent.id) if shared_block_ids or wanted else agent


def summarize(ws: Workspace, agent: Agent) -> AgentSummary:
    return AgentSummary(agent, ws.store.agent_counts(agent.id), ws.store.list_agent_blocks(agent.id))


def own_dir(ws: Workspace, agent: Agent) -> Path:
    """Where a new agent's files go: agents/<id> (a name never names a directory)."""
    return ws.home.new_dir_of(agent)


def rename_agent(ws: Workspace, agent: Agent, new_name: str, *, letta_name: bool = False) -> Agent:
    check_agent_name(new_name)
    ws.home.dir_of(agent)  # an older home's directory of the old name moves to the id first
    renamed = ws.store.update_agent(agent.id, unique_name=not letta_name, name=new_name)
    if ws.config.is_set("default_agent") and ws.config.get("default_agent") == agent.name:
        ws.config.set("default_agent", new_name)
    return renamed


def delete_agent(ws: Workspace, agent: Agent) -> None:
    """Delete the agent, its data and files, and its sleep-time agent if it has one."""
    for helper_id in sleeptime.release(ws.store, agent):
        delete_agent(ws, ws.store.get_agent(helper_id))
    own = ws.home.dir_of(agent)
    ws.store.delete_agent(agent.id)
    ws.home.remove_agent_dir(own)
    if ws.config.is_set("default_agent") and ws.config.get("default_agent") == agent.name:
        ws.config.unset("default_agent")


def use_agent(ws: Workspace, name: str) -> Agent:
    agent = ws.store.get_agent(name)
    ws.config.set("default_agent", agent.name)
    return agent


def update_agent(ws: Workspace, agent: Agent, *, description: str | None = None, model: str | None = None,
                 context_window: int | None = None, tool_rules: list[dict] | None = None,
                 system: str | None = None, metadata: dict | None = None,
                 tags: Sequence[str] | None = None, any_tool_rules: bool = False,
                 max_tokens: int | None = None, response_format: dict[str, Any] | None = None) -> Agent:
    """Change an agent's settings; tool rules are checked against the tools it has (unless
    ``any_tool_rules``, as Letta's API takes them)."""
    fields: dict = {}
    if tags is not None:
        fields["tags"] = checked_tags(tags)
    check_agent_texts(description, system)
    if system is not None:
        if not system.strip():
            raise InvalidInput("the system prompt is empty")
        fields["system"] = system
    if metadata is not None:
        fields["metadata"] = metadata
    if description is not None:
        fields["description"] = description
    if model is not None:
        if not model.strip():
            raise InvalidInput("the model name is empty")
        fields["model"] = model.strip()
    if context_window is not None:
        fields["context_window"] = check_context_window(context_window)
    if max_tokens is not None:  # 0: back to the server's own limit
        fields["max_tokens"] = check_max_tokens(max_tokens) if max_tokens else None
    if response_format is not None:  # {"type": "text"}: back to plain text
        fields["response_format"] = check_response_format(response_format)
    if tool_rules is not None:
        fields["tool_rules"] = _checked_rules(tool_rules, [t.name for t in ws.store.list_agent_tools(agent.id)],
                                              any_tool=any_tool_rules)
    return ws.store.update_agent(agent.id, **fields) if fields else agent


MAX_TAGS, MAX_TAG_CHARS = 100, 200


def checked_tags(tags: Sequence[str]) -> list[str]:
    """An agent's tags: distinct, in the order given, none empty."""
    if isinstance(tags, str):
        raise InvalidInput("tags must be a list of strings")
    kept: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise InvalidInput("a tag is empty", "give tags as non-empty strings")
        if len(tag) > MAX_TAG_CHARS:
            raise InvalidInput(f"a tag is longer than {MAX_TAG_CHARS} characters")
        if tag not in kept:
            kept.append(tag)
    if len(kept) > MAX_TAGS:
        raise InvalidInput(f"an agent has at most {MAX_TAGS} tags")
    return kept


def with_tags(agents: Sequence[Agent], tags: Sequence[str], match_all: bool = False) -> list[Agent]:
    """The agents with any (or, with ``match_all``, every) one of ``tags``; all of them without tags."""
    if not tags:
        return list(agents)
    wanted = set(tags)
    return [a for a in agents if (wanted <= set(a.tags) if match_all else wanted & set(a.tags))]


MAX_REPLY_TOKENS = 1_000_000


def check_response_format(chosen: Any) -> dict[str, Any] | None:
    """Structured output as Letta and OpenAI name it: {"type": "text"} (None: plain text),
    {"type": "json_object"}, or {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}."""
    kind = chosen.get("type") if isinstance(chosen, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = chosen.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise InvalidInput("a json_schema response_format needs json_schema.schema (a JSON Schema object)",
                               'e.g. {"type": "json_schema", "json_schema": {"name": "answer", "schema": {...}}}')
        return {"type": "json_schema", "json_schema": {"name": "response", **spec}}
    raise InvalidInput(f"response_format type {kind!r} is not text, json_object or json_schema",
                       'e.g. {"type": "json_object"}')


def check_max_tokens(tokens: int) -> int:
    """A cap on one reply's tokens (sent as max_tokens / max_completion_tokens)."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_REPLY_TOKENS:
        raise InvalidInput(f"max_tokens {tokens!r} is not a number of tokens from 1 to {MAX_REPLY_TOKENS:,}",
                           "give the most tokens one reply may have, e.g. 1024")
    return tokens


def check_context_window(tokens: int) -> int:
    if tokens < MIN_CONTEXT_WINDOW:
        raise InvalidInput(f"a context window under {MIN_CONTEXT_WINDOW} tokens cannot hold the system prompt")
    if tokens > MAX_CONTEXT_WINDOW:
        raise InvalidInput(f"a context window of {tokens:,} tokens is more than any model has",
                           f"use at most {MAX_CONTEXT_WINDOW:,}")
    return tokens


def _checked_rules(tool_rules: list[dict], tools: Sequence[str] = (), any_tool: bool = False) -> list[dict]:
    """Rules normalised, naming only tools the agent has (the built-ins and ``tools``), unless
    ``any_tool`` (Letta's API takes rules for tools an agent does not have)."""
    from memos.core.rules import normalise
    from memos.tools.builtins import builtin_specs

    known = set(builtin_specs()) | set(tools)
    rules: list[dict] = []
    for rule in (normalise(rule, known, any_tool=any_tool) for rule in tool_rules):
        if rule not in rules:  # as Letta: the same rule twice is one rule
            rules.append(rule)
    return rules


def enable_sleeptime(ws: Workspace, agent: Agent, frequency: int = sleeptime.DEFAULT_FREQUENCY) -> Group:
    """Give ``agent`` a sleep-time agent (NAME-sleeptime) sharing its memory blocks, which reviews
    its conversation every ``frequency`` turns (core/sleeptime.py); the group they form."""
    existing = sleeptime.group_of(ws.store, agent)
    if existing is not None:
        return existing
    if sleeptime.builtins_for(ws.store.list_groups(agent.id), agent.id) == sleeptime.MEMORY_TOOLS:
        raise InvalidInput(f"agent '{agent.name}' is a sleep-time agent itself")
    taken = {a.name for a in ws.store.list_agents()}
    name = next(n for n in [f"{agent.name}-sleeptime", *(f"{agent.name}-sleeptime-{i}" for i in range(2, 10_000))]
                if n not in taken)
    blocks = ws.store.list_agent_blocks(agent.id)
    # An agent that already has a memory_persona block (Letta's clients give one) shares it with
    # its helper, as Letta does; a second block of that label would collide with it.
    has_persona = any(b.label == sleeptime.PERSONA_LABEL for b in blocks)
    helper = create_agent(ws, name, model=agent.model, embedding_model=agent.embedding_model,
                          context_window=agent.context_window, system=sleeptime.SYSTEM,
                          blocks=[] if has_persona else [NewBlock(sleeptime.PERSONA_LABEL, sleeptime.PERSONA, 5_000,
                                                                  "How the sleep-time agent works.")],
                          shared_block_ids=[b.id for b in blocks],
                          tool_rules=[{"type": "exit_loop", "tool_name": "memory_finish_edits"}],
                          metadata={"sleeptime_for": agent.id}, letta_name=True)
    return ws.store.create_group(sleeptime.SLEEPTIME, agent.id, [helper.id], frequency=frequency)


def disable_sleeptime(ws: Workspace, agent: Agent) -> None:
    """Remove ``agent``'s sleep-time agent (the memory blocks they shared stay with ``agent``)."""
    for helper_id in sleeptime.release(ws.store, agent):
        delete_agent(ws, ws.store.get_agent(helper_id))
