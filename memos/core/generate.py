"""One completion with an agent's model and nothing else (Letta's /generate): no memory, no
tools of the agent, nothing stored. With a response schema the model must answer through a
tool whose parameters are that schema, so the answer is JSON that fits it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from memos.core.llm import LLM
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, ProviderError
from memos.store.base import Agent

ANSWER_TOOL = "respond"


@dataclass(frozen=True)
class Generated:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int


def generate(ws: Workspace, agent: Agent, prompt: str, *, system_prompt: str | None = None,
             model: str | None = None, response_schema: dict[str, Any] | None = None,
             llm: LLM | None = None) -> Generated:
    if not prompt.strip():
        raise InvalidInput("the prompt is empty")
    messages = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + \
        [{"role": "user", "content": prompt}]
    tools = None
    if response_schema is not None:
        if not isinstance(response_schema.get("properties"), dict):
            raise InvalidInput("the response schema has no 'properties'", "give a JSON schema of an object")
        tools = [{"type": "function", "function": {
            "name": ANSWER_TOOL, "description": "Give the answer, in the fields of this schema.",
            "parameters": {"type": "object", **response_schema}}}]
    used = model or agent.model
    completion = (llm or LLM(ws.config)).complete(used, messages, tools, stream=False)
    content = completion.content
    if response_schema is not None:
        call = next((c for c in completion.tool_calls if c.name == ANSWER_TOOL), None)
        if call is None:
            raise ProviderError(f"{used} did not answer in the response schema")
        try:
            content = json.dumps(json.loads(call.arguments))
        except json.JSONDecodeError:
            raise ProviderError(f"{used} answered the response schema with malformed JSON") from None
    return Generated(content, used, completion.prompt_tokens, completion.completion_tokens)
