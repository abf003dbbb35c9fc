"""Request bodies in Letta's names. Fields memos has no use for are accepted and ignored
(Letta's clients send many), but a known field of the wrong type is a 422 naming it."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class BlockCreate(Body):
    label: str = Field(min_length=1, max_length=100)
    value: str = ""
    limit: Optional[int] = Field(default=None, ge=1)
    description: Optional[str] = None
    read_only: bool = False


class BlockUpdate(Body):
    value: Optional[str] = None
    limit: Optional[int] = Field(default=None, ge=1)
    description: Optional[str] = None
    read_only: Optional[bool] = None


class LlmConfigPatch(Body):
    model: Optional[str] = None
    context_window: Optional[int] = Field(default=None, ge=1)


class AgentCreate(Body):
    name: Optional[str] = None
    description: Optional[str] = None
    system: Optional[str] = None
    model: Optional[str] = None
    embedding: Optional[str] = None
    context_window_limit: Optional[int] = Field(default=None, ge=1)
    memory_blocks: Optional[list[BlockCreate]] = None
    block_ids: Optional[list[str]] = None
    tools: Optional[list[str]] = None
    tool_ids: Optional[list[str]] = None
    tool_rules: Optional[list[dict[str, Any]]] = None
    metadata: Optional[dict[str, Any]] = None
    llm_config: Optional[LlmConfigPatch] = None


class AgentUpdate(Body):
    name: Optional[str] = None
    description: Optional[str] = None
    system: Optional[str] = None
    model: Optional[str] = None
    context_window_limit: Optional[int] = Field(default=None, ge=1)
    tool_rules: Optional[list[dict[str, Any]]] = None
    metadata: Optional[dict[str, Any]] = None
    llm_config: Optional[LlmConfigPatch] = None


class TextPart(Body):
    type: Literal["text"] = "text"
    text: str


class MessageIn(Body):
    """A user message, or an approval decision (``type: "approval"``)."""

    role: Optional[Literal["user", "system", "assistant"]] = None
    content: Optional[Union[str, list[TextPart]]] = None
    type: Optional[Literal["message", "approval"]] = None
    approve: Optional[bool] = None
    approval_request_id: Optional[str] = None
    approvals: Optional[list[dict[str, Any]]] = None
    reason: Optional[str] = None


class MessageRequest(Body):
    messages: Optional[list[MessageIn]] = None
    input: Optional[str] = None
    max_steps: int = Field(default=50, ge=1, le=1000)
    streaming: bool = False
    stream_tokens: bool = False
    include_pings: bool = False
    override_model: Optional[str] = None


class CancelRequest(Body):
    run_ids: Optional[list[str]] = None


class PassageCreate(Body):
    text: str = Field(min_length=1)
    tags: Optional[list[str]] = None


class ToolCreate(Body):
    source_code: str = Field(min_length=1)
    description: Optional[str] = None
    tags: Optional[list[str]] = None
