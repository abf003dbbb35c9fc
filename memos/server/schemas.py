"""Request bodies in Letta's names. Fields memos has no use for are accepted and ignored
(Letta's clients send many), but a known field of the wrong type is a 422 naming it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from memos.core.limits import DEFAULT_MAX_STEPS
from memos.core.memory import MAX_BLOCK_LIMIT
from memos.tools.registry import FUNCTION_NAME


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


# A block created through the API without a limit gets Letta's CORE_MEMORY_BLOCK_CHAR_LIMIT, for an
# agent's memory blocks and standalone blocks alike (Letta's CreateBlock and Block both default to it).
LETTA_BLOCK_LIMIT = MAX_BLOCK_LIMIT


class BlockCreate(Body):
    label: str = Field(min_length=1, max_length=100)
    value: str = ""
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    read_only: bool = False


class BlockUpdate(Body):
    label: str | None = None
    value: str | None = None
    limit: int | None = Field(default=None, ge=1)
    description: str | None = None
    read_only: bool | None = None


class LlmConfigPatch(Body):
    model: str | None = None
    context_window: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=0)


class AgentCreate(Body):
    enable_sleeptime: bool | None = None  # a sleep-time agent sharing its memory (core/sleeptime.py)
    identity_ids: list[str] | None = None
    name: str | None = None
    description: str | None = None
    system: str | None = None
    model: str | None = None
    embedding: str | None = None
    embedding_config: dict[str, Any] | None = None  # Letta's older way to name it (handle, or endpoint + model)
    context_window_limit: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=0)  # Letta's: one reply's cap (0 or none: the server's)
    memory_blocks: list[BlockCreate] | None = None
    block_ids: list[str] | None = None
    tools: list[str] | None = None
    tool_ids: list[str] | None = None
    tool_rules: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    llm_config: LlmConfigPatch | None = None
    tags: list[str] | None = None
    response_format: dict[str, Any] | None = None  # structured output (core/agents.check_response_format)
    model_settings: dict[str, Any] | None = None  # letta-client 1.x: response_format is read from it


class AgentUpdate(Body):
    enable_sleeptime: bool | None = None
    name: str | None = None
    description: str | None = None
    system: str | None = None
    model: str | None = None
    context_window_limit: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=0)
    tool_rules: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    llm_config: LlmConfigPatch | None = None
    tags: list[str] | None = None
    response_format: dict[str, Any] | None = None
    model_settings: dict[str, Any] | None = None
    identity_ids: list[str] | None = None


class TextPart(Body):
    type: Literal["text"] = "text"
    text: str


class MessageIn(Body):
    """A user message, or an approval decision (``type: "approval"``)."""

    role: Literal["user", "system", "assistant"] | None = None
    content: str | list[TextPart] | None = None
    type: Literal["message", "approval"] | None = None
    approve: bool | None = None
    approval_request_id: str | None = None
    approvals: list[dict[str, Any]] | None = None
    reason: str | None = None
    otid: str | None = Field(default=None, max_length=200)  # the client's id: a retry is answered once


class ClientTool(Body):
    """A tool the client runs (Letta's client_tools): offered to the model for this request."""

    name: str = Field(pattern=FUNCTION_NAME.pattern)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ClientSkill(Body):
    """A skill the client has (Letta's client_skills): named to the model for this request only."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    location: str | None = Field(default=None, max_length=1000)


class MessageRequest(Body):
    messages: list[MessageIn] | None = None
    override_system: str | None = Field(default=None, min_length=1)  # this turn's system prompt (Letta's)
    client_tools: list[ClientTool] | None = None
    client_skills: list[ClientSkill] | None = Field(default=None, max_length=200)
    input: str | None = None
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, ge=1, le=1000)
    streaming: bool = False
    stream_tokens: bool = False
    include_pings: bool = True  # streams open with a ping, as Letta's do
    background: bool = False  # a streamed turn that goes on when the client leaves, and can be resumed
    override_model: str | None = None
    include_return_message_types: list[str] | None = None


class CancelRequest(Body):
    run_ids: list[str] | None = None


class PassageCreate(Body):
    text: str = Field(min_length=1)
    tags: list[str] | None = None


class GenerateRequest(Body):
    prompt: str = Field(min_length=1)
    system_prompt: str | None = None
    override_model: str | None = None
    response_schema: dict[str, Any] | None = None


class ToolUpdate(Body):
    source_code: str | None = Field(default=None, min_length=1)
    description: str | None = None
    tags: list[str] | None = None
    json_schema: dict[str, Any] | None = None
    return_char_limit: int | None = None
    default_requires_approval: bool | None = None


class ToolRunRequest(Body):
    args: dict[str, Any] | None = None


class ToolCreate(Body):
    source_code: str = Field(min_length=1)
    description: str | None = None
    tags: list[str] | None = None
    return_char_limit: int | None = None
    json_schema: dict[str, Any] | None = None
    args_json_schema: dict[str, Any] | None = None
    default_requires_approval: bool | None = None  # every call waits for a person's approval


class ApprovalSetting(Body):
    requires_approval: bool | None = None


class ConversationCreate(Body):
    summary: str | None = None
    model: str | None = None
    model_settings: dict[str, Any] | None = None
    isolated_block_labels: list[str] | None = None
    name: str | None = None  # memos's handle for it (memos chat --conversation NAME); not Letta's


class ConversationUpdate(Body):
    summary: str | None = None
    model: str | None = None
    model_settings: dict[str, Any] | None = None
    name: str | None = None


class ConversationMessageRequest(MessageRequest):
    streaming: bool = True  # Letta streams a conversation's reply unless told not to
    agent_id: str | None = None  # with conversation "default": the agent whose own conversation it is


class RecompileRequest(Body):
    agent_id: str | None = None  # with conversation "default": the agent whose own conversation it is


class CompactRequest(Body):
    agent_id: str | None = None
    compaction_settings: dict[str, Any] | None = None


class FolderCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None
    embedding: str | None = None
    embedding_config: dict[str, Any] | None = None
    embedding_chunk_size: int | None = None


class ArchiveCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    embedding: str | None = None
    embedding_config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class ArchiveUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    metadata: dict[str, Any] | None = None


class ArchivePassageIn(Body):
    text: str = Field(min_length=1)
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    created_at: str | None = None


class ArchivePassagesIn(Body):
    passages: list[ArchivePassageIn] = Field(min_length=1)


class FolderUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = None
    instructions: str | None = None
    metadata: dict[str, Any] | None = None


class SleeptimeManagerConfig(Body):
    manager_type: str
    manager_agent_id: str | None = None
    sleeptime_agent_frequency: int | None = Field(default=None, ge=1, le=1000)


class GroupCreate(Body):
    agent_ids: list[str]
    description: str | None = None
    manager_config: SleeptimeManagerConfig | None = None
    shared_block_ids: list[str] | None = None


class GroupUpdate(Body):
    agent_ids: list[str] | None = None
    description: str | None = None
    manager_config: SleeptimeManagerConfig | None = None


class StreamResume(Body):
    agent_id: str | None = None  # with conversation "default": the agent whose own conversation it is
    otid: str | None = None  # the run that took the message sent with this otid (a conversation's stream)
    starting_after: int = Field(default=0, ge=0)
    include_pings: bool | None = True
    poll_interval: float | None = None
    batch_size: int | None = None


class IdentityProperty(BaseModel):
    key: str
    value: str | int | float | bool | dict[str, Any]
    type: Literal["string", "number", "boolean", "json"]


class IdentityCreate(Body):
    """Letta's IdentityCreate and IdentityUpsert."""

    identifier_key: str = Field(min_length=1)
    name: str
    identity_type: Literal["org", "user", "other"]
    project_id: str | None = None
    agent_ids: list[str] | None = None
    block_ids: list[str] | None = None
    properties: list[IdentityProperty] | None = None


class IdentityUpdate(Body):
    identifier_key: str | None = Field(None, min_length=1)
    name: str | None = None
    identity_type: Literal["org", "user", "other"] | None = None
    agent_ids: list[str] | None = None
    block_ids: list[str] | None = None
    properties: list[IdentityProperty] | None = None


class ScheduledMessageIn(BaseModel):
    role: Literal["user", "system"] = "user"
    content: str | list[TextPart]
    name: str | None = None
    otid: str | None = None
    sender_id: str | None = None
    type: Literal["message"] | None = None


class ScheduleCreate(Body):
    """Letta's POST /v1/agents/{id}/schedule."""

    messages: list[ScheduledMessageIn] = Field(min_length=1)
    schedule: dict[str, Any]
    callback_url: str | None = None
    include_return_message_types: list[str] | None = None
    max_steps: int | None = Field(default=None, ge=1)


class StepFeedback(Body):
    feedback: Literal["positive", "negative"] | None = None
    tags: list[str] | None = None


class MessageSearch(Body):
    """Letta's POST /v1/messages/search."""

    query: str = Field(min_length=1)
    agent_id: str | None = None
    conversation_id: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    limit: int = Field(50, ge=1, le=1000)
    search_mode: Literal["vector", "fts", "hybrid"] = "hybrid"  # memos searches a log's words in every mode
    roles: list[Literal["assistant", "user", "tool", "system"]] | None = None


class PassageSearch(Body):
    """Letta's POST /v1/passages/search."""

    query: str | None = None
    agent_id: str | None = None
    archive_id: str | None = None
    tags: list[str] | None = None
    tag_match_mode: Literal["any", "all"] = "any"
    start_date: str | None = None
    end_date: str | None = None
    limit: int = Field(50, ge=1, le=1000)


class ToolSearch(Body):
    """Letta's POST /v1/tools/search."""

    query: str | None = None
    search_mode: Literal["vector", "fts", "hybrid"] = "hybrid"
    tags: list[str] | None = None
    tool_types: list[str] | None = None
    limit: int = Field(50, ge=1, le=1000)


class ChatCompletionRequest(Body):
    """OpenAI's chat completion request, as Letta's /v1/chat/completions takes it: ``model``
    names the agent (its id, or in memos its name too); the agent keeps the conversation, so only
    the last user message is read."""

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    user: str | None = None
