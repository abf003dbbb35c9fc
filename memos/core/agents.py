"""Creating, renaming and deleting agents (with their home directories)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from memos.core.prompts import template
from memos.core.workspace import Workspace, check_agent_name
from memos.errors import InvalidInput
from memos.store.base import Agent, AgentCounts, Block, NewAgent, NewBlock

# Letta's defaults for the two standard blocks.
PERSONA_LIMIT = 20_000
HUMAN_LIMIT = 20_000
MAX_BLOCK_LIMIT = 100_000


@dataclass(frozen=True)
class AgentSummary:
    agent: Agent
    counts: AgentCounts
    blocks: list[Block]


def create_agent(ws: Workspace, name: str, *, description: str = "", model: str | None = None,
                 embedding_model: str | None = None, context_window: int | None = None,
                 persona: str | None = None, human: str | None = None, system: str | None = None) -> Agent:
    check_agent_name(name)
    persona_text = template("persona_default") if persona is None else persona
    human_text = template("human_default") if human is None else human
    for label, text, limit in (("persona", persona_text, PERSONA_LIMIT), ("human", human_text, HUMAN_LIMIT)):
        if len(text) > limit:
            raise InvalidInput(f"the {label} text is {len(text):,} chars, limit {limit:,}", "shorten it")
    agent = ws.store.create_agent(
        NewAgent(
            name=name,
            description=description,
            system=system or template("system_default"),
            model=model or ws.config.get("default_model"),
            embedding_model=embedding_model or ws.config.get("embedding_model"),
            context_window=context_window or ws.config.get("context_window"),
        ),
        [
            NewBlock("persona", persona_text, PERSONA_LIMIT, "The agent's persona: who it is and how it behaves."),
            NewBlock("human", human_text, HUMAN_LIMIT, "What the agent knows about the person it talks with."),
        ],
    )
    from memos.tools.repo import ToolRepo

    ToolRepo.ensure(ws.home.agent_dir(agent.name) / "tools", agent.name)  # the agent's own tools, under git
    return agent


def summarize(ws: Workspace, agent: Agent) -> AgentSummary:
    return AgentSummary(agent, ws.store.agent_counts(agent.id), ws.store.list_agent_blocks(agent.id))


def rename_agent(ws: Workspace, agent: Agent, new_name: str) -> Agent:
    check_agent_name(new_name)
    renamed = ws.store.update_agent(agent.id, name=new_name)
    old_dir, new_dir = ws.home.agent_dir(agent.name), ws.home.agent_dir(new_name)
    if old_dir.exists() and not new_dir.exists():
        old_dir.rename(new_dir)
    if ws.config.is_set("default_agent") and ws.config.get("default_agent") == agent.name:
        ws.config.set("default_agent", new_name)
    return renamed


def delete_agent(ws: Workspace, agent: Agent) -> None:
    ws.store.delete_agent(agent.id)
    shutil.rmtree(ws.home.agent_dir(agent.name), ignore_errors=True)
    if ws.config.is_set("default_agent") and ws.config.get("default_agent") == agent.name:
        ws.config.unset("default_agent")


def use_agent(ws: Workspace, name: str) -> Agent:
    agent = ws.store.get_agent(name)
    ws.config.set("default_agent", agent.name)
    return agent


def update_agent(ws: Workspace, agent: Agent, *, description: str | None = None, model: str | None = None,
                 context_window: int | None = None, tool_rules: list[dict] | None = None) -> Agent:
    """Change an agent's settings; tool rules are checked against the tools it has."""
    fields: dict = {}
    if description is not None:
        fields["description"] = description
    if model is not None:
        if not model.strip():
            raise InvalidInput("the model name is empty")
        fields["model"] = model.strip()
    if context_window is not None:
        if context_window < 256:
            raise InvalidInput("a context window under 256 tokens cannot hold the system prompt")
        fields["context_window"] = context_window
    if tool_rules is not None:
        from memos.core.agent import builtin_specs
        from memos.core.rules import normalise

        known = set(builtin_specs())
        fields["tool_rules"] = [normalise(rule, known) for rule in tool_rules]
    return ws.store.update_agent(agent.id, **fields) if fields else agent
