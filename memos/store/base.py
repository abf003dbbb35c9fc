"""The `Store` interface and the records it returns.

Core talks to this interface only, so a PostgreSQL backend can stand beside
the DuckDB one. Every method that changes state is one transaction; methods
called inside ``with store.transaction():`` join that transaction instead.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

if TYPE_CHECKING:  # numpy costs 40 ms to import, and most commands never touch a vector
    import numpy as np  # noqa: F401

from memos.store.turnlock import TurnLock

Role = Literal["system", "user", "assistant", "tool"]
SearchMode = Literal["vector", "text", "hybrid"]
TagMatch = Literal["any", "all"]
Actor = Literal["user", "agent", "sleep", "system"]
# An evolution's life: running (being written) -> no_change | failed | pending (checked, awaiting
# a decision) -> canary (serving part of the live calls, watched) | accepted | rejected;
# canary -> accepted (promoted) | rolled_back; accepted -> rolled_back; interrupted if its process died.
EvolutionStatus = Literal["running", "no_change", "failed", "pending", "canary", "accepted", "rejected",
                          "rolled_back", "interrupted"]

EMBEDDING_DIM = 384
# Which messages a query covers: a conversation's id, None for the agent's own (default)
# conversation, or ALL_CONVERSATIONS.
ALL_CONVERSATIONS = "*"
ConversationScope = str | None


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    description: str
    system: str
    model: str
    embedding_model: str
    context_window: int
    tool_rules: list[dict[str, Any]]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    tags: list[str] = field(default_factory=list)
    max_tokens: int | None = None  # the cap on one reply's tokens; None: the server's default
    # structured output (Letta's response_format, OpenAI's shape), sent with each LLM request; None: text
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True)
class Block:
    id: str
    label: str
    value: str
    limit: int
    description: str
    read_only: bool
    is_template: bool
    version: int
    created_at: datetime
    updated_at: datetime
    agent_ids: tuple[str, ...] = ()

    @property
    def shared(self) -> bool:
        return len(self.agent_ids) > 1


@dataclass(frozen=True)
class BlockChange:
    """What a change function returns: the new state of a block's editable fields."""

    value: str
    limit: int
    description: str
    read_only: bool


@dataclass(frozen=True)
class BlockVersion:
    block_id: str
    version: int
    old_value: str | None
    new_value: str
    actor: str
    reason: str
    restored_from: int | None
    created_at: datetime


@dataclass(frozen=True)
class Message:
    id: str
    agent_id: str
    seq: int
    role: str
    content: str
    name: str | None
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    step_id: str | None
    run_id: str | None
    in_context: bool
    created_at: datetime
    conversation_id: str | None = None  # None: the agent's own (default) conversation
    otid: str | None = None  # the sending client's own id for it (a retry carries the same)


@dataclass(frozen=True)
class NewMessage:
    role: Role
    content: str
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    step_id: str | None = None
    run_id: str | None = None
    in_context: bool = True
    created_at: datetime | None = None
    conversation_id: str | None = None
    otid: str | None = None
    id: str | None = None  # chosen before it is stored (a reply shown as it streams names it); else on write


@dataclass(frozen=True)
class Conversation:
    """One of an agent's conversations (Letta's): its own message log and context, the agent's
    memory blocks shared with every other conversation of the agent."""

    id: str
    agent_id: str
    name: str | None  # memos's handle for it (`memos chat --conversation NAME`), unique per agent
    summary: str | None
    model: str | None  # overrides the agent's model for this conversation's turns
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None


@dataclass(frozen=True)
class Folder:
    """A folder of files (Letta's folder, once "source") that agents read once it is attached."""

    id: str
    name: str
    description: str | None
    instructions: str | None  # how an agent should use it, shown with the folder in the prompt
    metadata: dict[str, Any]
    embedding_model: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FolderFile:
    id: str
    folder_id: str
    file_name: str  # unique in its folder
    original_file_name: str
    file_type: str | None
    file_size: int
    content: str
    created_at: datetime
    updated_at: datetime
    chunks: int = 0


@dataclass(frozen=True)
class FileChunk:
    """A piece of a file's text with its embedding, for semantic search."""

    start_line: int  # 1-based line of the file the piece starts on
    text: str
    embedding: Any  # np.ndarray of EMBEDDING_DIM float32


@dataclass(frozen=True)
class AgentFile:
    """A file of a folder attached to an agent, as the agent sees it: open (a window of its lines
    in the prompt) or closed (its name only)."""

    file: FolderFile
    folder: Folder
    is_open: bool
    start_line: int | None  # the window, 1-based and inclusive; end None: to the end
    end_line: int | None
    opened_at: datetime | None


IdentityType = Literal["org", "user", "other"]
IDENTITY_TYPES: tuple[IdentityType, ...] = ("org", "user", "other")


@dataclass(frozen=True)
class Identity:
    """Who is behind agents and blocks (Letta's identity): a person, an organisation, or other,
    known by the caller's own ``identifier_key`` (unique within a project), with properties
    (Letta's: dicts of key, value and type)."""

    id: str
    identifier_key: str
    name: str
    identity_type: str
    project_id: str | None
    properties: tuple[dict[str, Any], ...]
    agent_ids: tuple[str, ...]
    block_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class IdentityChange:
    """What to set on an identity; None leaves a field as it is. ``replace``: properties and
    members given replace the old ones (an upsert); else properties merge by key and members are
    added (Letta's PATCH)."""

    identifier_key: str | None = None
    name: str | None = None
    identity_type: str | None = None
    properties: Sequence[dict[str, Any]] | None = None
    agent_ids: Sequence[str] | None = None
    block_ids: Sequence[str] | None = None
    replace: bool = False


@dataclass(frozen=True)
class Archive:
    """Passages shared by several agents (Letta's archive): embedded with its own model, searched
    by every agent it is attached to beside that agent's own archival memory."""

    id: str
    name: str
    description: str | None
    embedding_model: str
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Schedule:
    """Messages sent to an agent at a time or on a cron expression (Letta's scheduled message).
    ``messages``: Letta's message dicts (role and content); ``options``: what the turn is run
    with (max_steps, include_return_message_types, callback_url)."""

    id: str
    agent_id: str
    messages: tuple[dict[str, Any], ...]
    options: dict[str, Any]
    cron_expression: str | None  # None: a one-off at scheduled_at
    time_zone: str  # the zone the cron expression is read in (IANA name)
    scheduled_at: datetime | None
    next_run_at: datetime | None  # None: a one-off that has run
    created_at: datetime


@dataclass(frozen=True)
class ScheduledRun:
    """One due time of a schedule, claimed by one process: the turn it ran, and how it ended."""

    schedule_id: str
    due_at: datetime
    agent_id: str
    claimed_by: str
    claimed_at: datetime
    run_id: str | None
    status: str  # claimed | completed | failed
    detail: str | None


@dataclass(frozen=True)
class Group:
    """Letta's multi-agent group; memos runs sleep-time ones: ``agent_ids`` (the sleep-time
    agents) take a turn on the manager's conversation every ``frequency`` of its turns."""

    id: str
    manager_type: str  # "sleeptime"
    manager_agent_id: str | None
    agent_ids: tuple[str, ...]
    description: str | None
    frequency: int | None
    turns_counter: int
    last_processed_message_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MessageStats:
    total: int
    in_context: int
    by_role: dict[str, int]
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True)
class Passage:
    id: str
    agent_id: str
    text: str
    tags: list[str]
    created_at: datetime


@dataclass(frozen=True)
class NewPassage:
    text: str
    embedding: np.ndarray
    tags: list[str] = field(default_factory=list)
    created_at: datetime | None = None


@dataclass(frozen=True)
class PassageHit:
    passage: Passage
    score: float
    # Why it came back: each mode's rank (None: past that mode's list) and score, and the fused
    # score with the weights (`memos archival search --explain`). Filled by every search.
    explain: dict[str, Any] | None = None


@dataclass(frozen=True)
class PassageQuery:
    """A search over one agent's archival memory."""

    mode: SearchMode = "hybrid"
    text: str | None = None
    embedding: np.ndarray | None = None
    tags: Sequence[str] = ()
    tag_match: TagMatch = "any"
    start: datetime | None = None
    end: datetime | None = None
    top_k: int = 10
    offset: int = 0


@dataclass(frozen=True)
class PassageStats:
    total: int
    tags: dict[str, int]
    first_at: datetime | None
    last_at: datetime | None
    embedding_model: str
    indexed: int


@dataclass(frozen=True)
class AgentCounts:
    messages: int
    passages: int
    blocks: int
    last_activity: datetime | None


@dataclass(frozen=True)
class ContextBlock:
    """What the context window shows of a block (no sharing details: cheaper to read every step)."""

    label: str
    description: str
    value: str
    limit: int
    read_only: bool
    updated_at: datetime
    version: int = 0  # what an agent's whole-block rewrite compares against (a compare-and-set)


@dataclass(frozen=True)
class CoreMemory:
    """Everything the system prompt needs from the store, read every step."""

    blocks: tuple[ContextBlock, ...]
    messages: int
    passages: int


@dataclass(frozen=True)
class StepRecord:
    """One LLM call of a run."""

    run_id: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    stop_reason: str
    cached_tokens: int = 0
    duration_ms: float | None = None  # the whole step: LLM, tools and writes
    id: str | None = None  # made when the step starts, so what it streams can name it; else on write


@dataclass(frozen=True)
class ToolCallRecord:
    id: str
    agent_id: str
    tool_call_id: str
    name: str
    arguments: str
    result: str | None
    status: str  # success | error | pending | denied
    duration_ms: float | None
    step_id: str | None = None
    tool_commit: str | None = None
    created_at: datetime | None = None
    # approve | deny | return: how a call that waited was settled; HELD: a call that needs no
    # decision, held (status pending) until the calls of its step that wait are decided
    decision: str | None = None
    decision_reason: str | None = None
    decision_batch: str | None = None  # the tool_call_id of the first call settled with it, in one request


HELD = "held"


@dataclass(frozen=True)
class Decision:
    """How a waiting call is settled: ``kind`` approve, deny or return (the client's result), with
    the reason given; ``batch`` the tool_call_id of the first call settled in the same request."""

    kind: str
    reason: str | None = None
    batch: str | None = None


@dataclass(frozen=True)
class ToolRecord:
    """A tool attached to an agent: its schema as last loaded, and where its code lives."""

    id: str
    name: str
    description: str
    json_schema: dict[str, Any]
    source_type: str  # repo (the agent's tool repo)
    source_code: str | None
    repo_commit: str | None
    created_at: datetime
    updated_at: datetime
    tags: list[str] = field(default_factory=list)
    return_char_limit: int | None = None  # the longest result the agent reads; None: memos's own cap
    requires_approval: bool = False  # each call waits for a person's approval (Letta's default_requires_approval)


@dataclass(frozen=True)
class NewTool:
    name: str
    description: str
    json_schema: dict[str, Any]
    source_code: str | None = None
    repo_commit: str | None = None
    source_type: str = "repo"
    tags: list[str] | None = None  # None: as the row has them (or none, for a new row)
    return_char_limit: int | None = None  # None: as the row has it
    requires_approval: bool | None = None  # None: as the row has it (or not, for a new row)


@dataclass(frozen=True)
class Evolution:
    """One proposed change to an agent's tool code, from proposal to decision (and rollback)."""

    id: str
    agent_id: str
    branch: str
    base_commit: str | None
    head_commit: str | None
    status: EvolutionStatus
    title: str
    rationale: str
    test_report: dict[str, Any] | None
    shadow_report: dict[str, Any] | None
    decided_by: str | None
    created_at: datetime
    updated_at: datetime
    canary: dict[str, Any] | None = None  # while and after it served live calls: mode, share, tools, start, end
    stages: list[dict[str, Any]] | None = None  # the checks in the order they ran, each with its outcome
    utility: dict[str, Any] | None = None  # the score a policy decides on, and its parts
    usage: dict[str, Any] | None = None  # what the pass that proposed it spent: tokens, cost, LLM calls
    reason: str | None = None  # why it ended where it did, in words (with the figures)


class EvolutionChanges(TypedDict, total=False):
    """The fields of an evolution that `Store.update_evolution` may change."""

    branch: str
    head_commit: str | None
    status: EvolutionStatus
    title: str
    rationale: str
    test_report: dict[str, Any] | None
    shadow_report: dict[str, Any] | None
    decided_by: str | None
    canary: dict[str, Any] | None
    stages: list[dict[str, Any]] | None
    utility: dict[str, Any] | None
    usage: dict[str, Any] | None
    reason: str | None


CanaryVersion = Literal["old", "new"]
CanaryOutcome = Literal["ok", "error", "timeout"]


@dataclass(frozen=True)
class CanaryCall:
    """A live call of a canaried tool: the version whose answer the agent read, and how it went;
    in shadow mode also how the new version did on the same arguments (None until it finished)."""

    id: str
    evolution_id: str
    agent_id: str
    tool: str
    tool_call_id: str | None
    version: CanaryVersion
    outcome: CanaryOutcome
    duration_ms: float | None
    output_chars: int | None
    shadow_outcome: CanaryOutcome | None = None
    shadow_ms: float | None = None
    differs: bool | None = None
    created_at: datetime | None = None


RunActor = Literal["agent", "sleep"]


@dataclass(frozen=True)
class Run:
    id: str
    agent_id: str
    status: str
    stop_reason: str | None
    created_at: datetime
    completed_at: datetime | None
    actor: RunActor = "agent"
    conversation_id: str | None = None
    request_config: dict[str, Any] | None = None  # Letta's: what the client asked of its messages


@dataclass(frozen=True)
class RunSummary:
    """A run with its steps' totals (cost None when a step's price was unknown: never guessed)."""

    run: Run
    agent_name: str
    steps: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float | None
    unpriced_steps: int
    tool_calls: int
    tool_errors: int


@dataclass(frozen=True)
class Step:
    """A stored step: one LLM call of a run, and the tool calls it made."""

    id: str
    run_id: str
    agent_id: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float | None
    latency_ms: float | None
    duration_ms: float | None
    stop_reason: str | None
    created_at: datetime
    tool_calls: tuple[ToolCallRecord, ...] = ()
    feedback: str | None = None  # positive | negative: a person's verdict (Letta's step feedback)
    feedback_tags: tuple[str, ...] = ()


UsageGroup = Literal["day", "agent", "model", "none"]


@dataclass(frozen=True)
class UsageRow:
    """Totals of the steps in one group (a day, an agent or a model) for one actor."""

    key: str
    actor: str
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float  # of the priced calls only
    unpriced_calls: int  # calls whose price memos does not know: their cost is not in cost_usd
    tool_calls: int
    tool_errors: int
    step_p50_ms: float | None
    step_p95_ms: float | None


@dataclass(frozen=True)
class NewAgent:
    name: str
    system: str
    model: str
    embedding_model: str
    context_window: int
    description: str = ""
    tool_rules: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    max_tokens: int | None = None
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewBlock:
    label: str
    value: str
    limit: int
    description: str = ""
    read_only: bool = False
    is_template: bool = False


ChangeFn = Callable[[Block], BlockChange]


@dataclass(frozen=True)
class Finding:
    """One thing `memos doctor` checked: ok, repaired (it was wrong and now is right), or a
    problem it could not (or was told not to) repair."""

    check: str
    status: Literal["ok", "repaired", "problem"]
    detail: str = ""


class Store(abc.ABC):
    """Backend-neutral persistence for agents, memory, messages and archival."""

    # -- lifecycle -----------------------------------------------------------
    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Group several writes into one transaction (all or nothing)."""

    @abc.abstractmethod
    def schema_version(self) -> list[str]:
        """Applied migration ids, oldest first."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def defer_index_upkeep(self) -> None:  # noqa: B027 -- optional hook, deliberately empty
        """In a long-lived process: keep derived search indexes in step just after each write,
        in the background, rather than before the write returns. Searches stay right meanwhile.

        Optional; a backend whose indexes follow every write in the database does nothing."""

    def keep_connection_idle(self, seconds: float) -> None:  # noqa: B027 -- optional hook, deliberately empty
        """In a long-lived process: keep the database open this long between requests (another
        process that asks for it still gets it at once). Optional."""

    def wait_for_index_upkeep(self, timeout: float = 30.0) -> bool:
        """Until deferred index upkeep has caught up (True), or ``timeout`` passed."""
        return True

    def rebuild_vector_index(self, agent_id: str) -> Any:
        """Bring the agent's vector index up to date now (backends normally do it by themselves).

        Optional; a backend whose index follows every write does nothing."""
        return None

    @abc.abstractmethod
    def change_stamp(self) -> Any:
        """A cheap value that changes whenever anyone (any process) commits a write; compared
        by front ends that watch the store (the TUI polls it every second)."""

    def check_agent(self, agent_id: str, *, repair: bool) -> list[Finding]:
        """The store's own invariants for an agent: no message seq taken twice, every agent edit
        of a block made by a recorded tool call, search indexes in step with the rows."""
        return []

    def check_cluster(self, *, repair: bool) -> list[Finding]:
        """Where machines share the store: turn leases left by replicas that died (repaired) or
        hang (a problem until the next turn takes over)."""
        return []

    def backend_details(self) -> dict[str, Any]:
        """What `memos db info` shows beside the schema version: backend, location, indexes."""
        return {"backend": type(self).__name__}

    # -- agents --------------------------------------------------------------
    @abc.abstractmethod
    def create_agent(self, agent: NewAgent, blocks: Sequence[NewBlock], actor: Actor = "user",
                     unique_name: bool = True) -> Agent:
        """``unique_name=False``: another agent may have the name (Letta's API allows it)."""

    @abc.abstractmethod
    def get_agent(self, id_or_name: str) -> Agent: ...

    @abc.abstractmethod
    def list_agents(self) -> list[Agent]: ...

    @abc.abstractmethod
    def update_agent(self, agent_id: str, unique_name: bool = True, **fields: Any) -> Agent: ...

    @abc.abstractmethod
    def delete_agent(self, agent_id: str) -> None:
        """Delete an agent with its messages, passages and the blocks no other agent uses."""

    @abc.abstractmethod
    def core_memory(self, agent_id: str) -> CoreMemory:
        """The agent's blocks in order with its message and passage counts, in one read."""

    @abc.abstractmethod
    def agent_counts(self, agent_id: str) -> AgentCounts: ...

    # -- blocks --------------------------------------------------------------
    @abc.abstractmethod
    def create_block(self, block: NewBlock, *, actor: Actor, reason: str, agent_id: str | None = None) -> Block: ...

    @abc.abstractmethod
    def get_block(self, block_id: str) -> Block: ...

    @abc.abstractmethod
    def get_agent_block(self, agent_id: str, label: str) -> Block: ...

    @abc.abstractmethod
    def list_agent_blocks(self, agent_id: str) -> list[Block]: ...

    @abc.abstractmethod
    def list_blocks(self) -> list[Block]: ...

    @abc.abstractmethod
    def blocks_by_agent(self, agent_ids: Sequence[str]) -> dict[str, list[Block]]:
        """Each agent's blocks in list_agent_blocks order, for many agents in one read."""

    @abc.abstractmethod
    def attach_block(self, agent_id: str, block_id: str) -> Block: ...

    @abc.abstractmethod
    def detach_block(self, agent_id: str, block_id: str) -> None: ...

    @abc.abstractmethod
    def relabel_block(self, block_id: str, label: str) -> Block:
        """Give a block a new label; AlreadyExists when an agent that has it has another block so labelled."""

    @abc.abstractmethod
    def modify_block(self, block_id: str, change: ChangeFn, *, actor: Actor, reason: str,
                     restored_from: int | None = None) -> tuple[Block, Block]:
        """Atomically read a block, apply ``change`` and record history; returns (old, new).

        ``change`` runs inside the write transaction, so concurrent edits from other
        processes cannot interleave between its read and its write. It may raise.
        """

    @abc.abstractmethod
    def delete_block(self, block_id: str) -> None: ...

    @abc.abstractmethod
    def block_history(self, block_id: str) -> list[BlockVersion]: ...

    # -- messages ------------------------------------------------------------
    @abc.abstractmethod
    def append_messages(self, agent_id: str, messages: Sequence[NewMessage]) -> list[Message]: ...

    @abc.abstractmethod
    def get_message(self, message_id: str) -> Message: ...

    @abc.abstractmethod
    def in_context_message_ids(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each agent's messages in its own conversation's context, oldest first (Letta's
        ``message_ids``, after the system message); agents with none are left out."""

    @abc.abstractmethod
    def requeue_message(self, message_id: str, run_id: str) -> None:
        """Move a stored message to the end of the log, as the one ``run_id`` answers: a retried
        message whose first turn was cut short, answered now after what came meanwhile."""

    @abc.abstractmethod
    def message_by_otid(self, agent_id: str, otid: str) -> Message | None:
        """The agent's newest message a client sent with this otid, if one is stored."""

    @abc.abstractmethod
    def list_messages(self, agent_id: str, *, before: str | None = None, after: str | None = None,
                      limit: int = 50, order: Literal["asc", "desc"] = "desc",
                      in_context: bool | None = None, conversation: ConversationScope = None) -> list[Message]:
        """A page of the messages of one conversation (None: the agent's own), or of all of them."""

    @abc.abstractmethod
    def run_messages(self, run_id: str, *, limit: int = 1000, after: str | None = None,
                     order: Literal["asc", "desc"] = "asc") -> list[Message]:
        """The messages a run stored (its user message, replies, tool calls and returns), in order."""

    @abc.abstractmethod
    def list_all_messages(self, *, before: str | None = None, after: str | None = None, limit: int = 50,
                          order: Literal["asc", "desc"] = "desc",
                          conversation: ConversationScope = ALL_CONVERSATIONS) -> list[Message]:
        """A page of every agent's messages (seq orders them all); cursors as list_messages's."""

    @abc.abstractmethod
    def search_messages(self, agent_id: str, query: str | None, *, roles: Sequence[str] = (),
                        start: datetime | None = None, end: datetime | None = None,
                        limit: int = 20, offset: int = 0) -> list[Message]: ...

    @abc.abstractmethod
    def message_stats(self, agent_id: str) -> MessageStats: ...

    @abc.abstractmethod
    def count_in_context(self, agent_id: str, conversation: ConversationScope = None) -> int:
        """How many of the agent's messages (of one conversation; None: its own) are in context."""

    @abc.abstractmethod
    def set_in_context(self, agent_id: str, message_ids: Sequence[str], in_context: bool) -> None: ...

    @abc.abstractmethod
    def clear_context(self, agent_id: str, conversation: str | None = None) -> int:
        """Take every message of a conversation out of its context (they stay stored and searchable); how many."""

    # -- conversations -------------------------------------------------------------
    @abc.abstractmethod
    def create_conversation(self, agent_id: str, *, name: str | None = None, summary: str | None = None,
                            model: str | None = None) -> Conversation:
        """A new, empty conversation of the agent; ``name`` must be unused by its other conversations."""

    @abc.abstractmethod
    def get_conversation(self, conversation_id: str) -> Conversation: ...

    @abc.abstractmethod
    def find_conversation(self, agent_id: str, name_or_id: str) -> Conversation:
        """The agent's conversation with this name or id."""

    @abc.abstractmethod
    def list_conversations(self, agent_id: str | None = None, *, limit: int = 50, after: str | None = None,
                           order: Literal["asc", "desc"] = "desc",
                           order_by: Literal["created_at", "last_message_at"] = "created_at",
                           summary_search: str | None = None) -> list[Conversation]: ...

    @abc.abstractmethod
    def update_conversation(self, conversation_id: str, *, name: str | None = None, summary: str | None = None,
                            model: str | None = None, touched: bool = False) -> Conversation:
        """Change what is given (``touched``: a message was just sent to it)."""

    @abc.abstractmethod
    def delete_conversation(self, conversation_id: str) -> None:
        """The conversation and its messages; the agent's blocks and other conversations stay."""

    @abc.abstractmethod
    def keep_system_message(self, agent_id: str, conversation: str | None, content: str) -> None:
        """Keep ``content`` as the system message the model last read in this conversation (None:
        the agent's own); the log lists it first until the next one is kept."""

    @abc.abstractmethod
    def kept_system_message(self, agent_id: str, conversation: str | None) -> str | None:
        """The system message last kept for this conversation; None when none was."""

    @abc.abstractmethod
    def fork_conversation(self, agent_id: str, source: str | None, *, name: str | None = None) -> Conversation:
        """A new conversation whose context starts as a copy of ``source``'s in-context messages
        (None: the agent's own conversation)."""

    # -- folders and files ------------------------------------------------------------
    @abc.abstractmethod
    def create_folder(self, name: str, *, description: str | None = None, instructions: str | None = None,
                      metadata: dict[str, Any] | None = None, embedding_model: str) -> Folder: ...

    @abc.abstractmethod
    def get_folder(self, id_or_name: str) -> Folder: ...

    @abc.abstractmethod
    def list_folders(self) -> list[Folder]:
        """Every folder, oldest first."""

    @abc.abstractmethod
    def update_folder(self, folder_id: str, *, name: str | None = None, description: str | None = None,
                      instructions: str | None = None, metadata: dict[str, Any] | None = None) -> Folder: ...

    @abc.abstractmethod
    def delete_folder(self, folder_id: str) -> None:
        """The folder, its files and chunks; agents it was attached to no longer see it."""

    @abc.abstractmethod
    def add_file(self, folder_id: str, *, file_name: str, original_file_name: str, file_type: str | None,
                 content: str, chunks: Sequence[FileChunk], replace: bool = False) -> FolderFile:
        """Store a file with its chunks; a name taken in the folder is refused unless ``replace``."""

    @abc.abstractmethod
    def get_file(self, file_id: str) -> FolderFile: ...

    @abc.abstractmethod
    def list_files(self, folder_id: str) -> list[FolderFile]:
        """The folder's files by name, with their chunk counts (content included)."""

    @abc.abstractmethod
    def delete_file(self, file_id: str) -> None: ...

    @abc.abstractmethod
    def attach_folder(self, agent_id: str, folder_id: str) -> None: ...

    @abc.abstractmethod
    def detach_folder(self, agent_id: str, folder_id: str) -> None:
        """The agent no longer sees the folder (its open files close)."""

    @abc.abstractmethod
    def agent_folders(self, agent_id: str) -> list[Folder]: ...

    @abc.abstractmethod
    def folder_chunk_texts(self, folder_id: str) -> list[str]: ...

    @abc.abstractmethod
    def replace_folder_vectors(self, folder_id: str, model: str, texts: Sequence[str], vectors: Any) -> None: ...

    @abc.abstractmethod
    def folder_agents(self, folder_id: str) -> list[str]:
        """Ids of the agents the folder is attached to."""

    @abc.abstractmethod
    def agent_files(self, agent_id: str) -> list[AgentFile]:
        """The files of the agent's folders, by folder and name, with what the agent has open."""

    @abc.abstractmethod
    def open_file(self, agent_id: str, file_id: str, start_line: int, end_line: int | None) -> None:
        """Open (or move the window of) one of the agent's files."""

    @abc.abstractmethod
    def close_files(self, agent_id: str, file_ids: Sequence[str] | None = None) -> int:
        """Close these of the agent's files (None: all); how many were open."""

    @abc.abstractmethod
    def folder_chunks(self, folder_ids: Sequence[str]) -> list[tuple[str, FileChunk]]:
        """(file id, chunk) of every file in these folders, for semantic search."""

    # -- identities --------------------------------------------------------------------
    @abc.abstractmethod
    def create_identity(self, identifier_key: str, name: str, identity_type: str, *, project_id: str | None = None,
                        properties: Sequence[dict[str, Any]] = (), agent_ids: Sequence[str] = (),
                        block_ids: Sequence[str] = ()) -> Identity:
        """A new identity; its key taken in the project already is AlreadyExists, an unknown
        agent or block NotFound (nothing written)."""

    @abc.abstractmethod
    def find_identity(self, identifier_key: str, project_id: str | None) -> Identity | None: ...

    @abc.abstractmethod
    def get_identity(self, identity_id: str) -> Identity: ...

    @abc.abstractmethod
    def list_identities(self) -> list[Identity]:
        """Every identity, oldest first."""

    @abc.abstractmethod
    def update_identity(self, identity_id: str, change: IdentityChange) -> Identity: ...

    @abc.abstractmethod
    def delete_identity(self, identity_id: str) -> None: ...

    @abc.abstractmethod
    def link_identity(self, identity_id: str, kind: Literal["agent", "block"], member_id: str, linked: bool) -> None:
        """Attach (``linked``) or detach an agent or block; doing it twice changes nothing."""

    # -- archives: passages shared by agents (their passages are stored as an agent's are,
    #    under the archive's id: insert_passages, search_passages, delete_passages take it) ------
    @abc.abstractmethod
    def create_archive(self, name: str, embedding_model: str, *, description: str | None = None,
                       metadata: Mapping[str, Any] | None = None) -> Archive: ...

    @abc.abstractmethod
    def get_archive(self, archive_id: str) -> Archive: ...

    @abc.abstractmethod
    def list_archives(self) -> list[Archive]:
        """Every archive, oldest first."""

    @abc.abstractmethod
    def update_archive(self, archive_id: str, *, name: str | None = None, description: str | None = None,
                       metadata: Mapping[str, Any] | None = None) -> Archive: ...

    @abc.abstractmethod
    def delete_archive(self, archive_id: str) -> None:
        """The archive, its passages and its attachments."""

    @abc.abstractmethod
    def attach_archive(self, agent_id: str, archive_id: str, attached: bool) -> None:
        """Attach (``attached``) or detach; doing it twice changes nothing."""

    @abc.abstractmethod
    def agent_archives(self, agent_id: str) -> list[Archive]:
        """The archives attached to an agent (read before each of its searches: remembered)."""

    @abc.abstractmethod
    def archive_agents(self, archive_id: str) -> list[str]:
        """The ids of the agents an archive is attached to, in the order they were attached."""

    # -- scheduled messages --------------------------------------------------------------
    @abc.abstractmethod
    def create_schedule(self, agent_id: str, messages: Sequence[dict[str, Any]], options: Mapping[str, Any], *,
                        cron_expression: str | None, time_zone: str, scheduled_at: datetime | None,
                        next_run_at: datetime) -> Schedule: ...

    @abc.abstractmethod
    def get_schedule(self, schedule_id: str) -> Schedule: ...

    @abc.abstractmethod
    def list_schedules(self, agent_id: str | None = None) -> list[Schedule]:
        """Schedules (of one agent), oldest first."""

    @abc.abstractmethod
    def delete_schedule(self, schedule_id: str) -> None: ...

    @abc.abstractmethod
    def due_schedules(self, now: datetime) -> list[Schedule]:
        """Schedules whose next run is at or before ``now``, the most overdue first."""

    @abc.abstractmethod
    def claim_schedule(self, schedule_id: str, due_at: datetime, next_run_at: datetime | None,
                       claimed_by: str) -> bool:
        """Take the run due at ``due_at`` and move the schedule on to ``next_run_at``, if nobody
        did first (the schedule is still due at ``due_at``): True for exactly one caller."""

    @abc.abstractmethod
    def finish_scheduled_run(self, schedule_id: str, due_at: datetime, *, run_id: str | None, status: str,
                             detail: str | None = None) -> None: ...

    @abc.abstractmethod
    def scheduled_runs(self, schedule_id: str | None = None, limit: int = 100) -> list[ScheduledRun]:
        """Claimed due times (of one schedule), newest first."""

    # -- groups ------------------------------------------------------------------------
    @abc.abstractmethod
    def create_group(self, manager_type: str, manager_agent_id: str | None, agent_ids: Sequence[str], *,
                     description: str | None = None, frequency: int | None = None) -> Group: ...

    @abc.abstractmethod
    def get_group(self, group_id: str) -> Group: ...

    @abc.abstractmethod
    def list_groups(self, agent_id: str | None = None) -> list[Group]:
        """Every group (with ``agent_id``: those it manages or belongs to), oldest first."""

    @abc.abstractmethod
    def update_group(self, group_id: str, *, description: str | None = None, frequency: int | None = None,
                     agent_ids: Sequence[str] | None = None) -> Group: ...

    @abc.abstractmethod
    def delete_group(self, group_id: str) -> None: ...

    @abc.abstractmethod
    def count_group_turn(self, group_id: str, last_message_id: str | None) -> tuple[bool, str | None]:
        """One more turn of the manager: whether the group's agents are due now and, if so, the
        message id processed up to before (the new mark is ``last_message_id``). Atomic, so two
        processes never both run the same turns."""

    # -- what several machines share (PostgreSQL) ----------------------------------------
    # True where processes on other machines use this store: then an agent's tool code lives in
    # the database (memos/tools/shared_code.py), not only in a home's git repository, and so
    # do the settings every machine must share (core/config.py).
    cluster: bool = False

    @abc.abstractmethod
    def cluster_lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        """Hold ``name`` exclusively against every process using this store, on any machine,
        waiting up to ``timeout`` seconds (then `DatabaseBusy`). Let go when
        the block ends, or when the holding process dies."""

    @abc.abstractmethod
    def cluster_settings(self) -> dict[str, Any]:
        """The settings every machine using this store shares (core/config.py says which)."""

    @abc.abstractmethod
    def put_cluster_settings(self, values: Mapping[str, Any], *, only_missing: bool = False) -> None:
        """Set these settings for every machine (None removes one); ``only_missing``: keep those set."""

    @abc.abstractmethod
    def tool_code_refs(self, agent_id: str) -> dict[str, str]:
        """The agent's tool code branches in the store: {branch: commit}."""

    @abc.abstractmethod
    def tool_code_packs(self, agent_id: str, after: int = 0) -> list[tuple[int, bytes]]:
        """The git packs of the agent's tool code added after sequence number ``after``, in order."""

    @abc.abstractmethod
    def publish_tool_code(self, agent_id: str, pack: bytes | None, expected: Mapping[str, str | None],
                          refs: Mapping[str, str | None]) -> int | None:
        """Add a pack and move branches at once, if they still are where ``expected`` says."""

    # -- turns, runs, steps, tool calls ---------------------------------------------
    @abc.abstractmethod
    def turn_lock(self, agent_id: str, conversation: str | None = None) -> TurnLock:
        """The lock that keeps the turns of one conversation of the agent (None: its own) apart,
        across every process sharing this store. Conversations of one agent run at once."""

    @abc.abstractmethod
    def running_runs(self, agent_id: str, actor: RunActor = "agent",
                     conversation: ConversationScope = ALL_CONVERSATIONS) -> list[str]:
        """Ids of the agent's runs with status `running` (its turns', or its sleep passes'), in one
        conversation or in all."""

    @abc.abstractmethod
    def set_run_request_config(self, run_id: str, config: dict[str, Any]) -> None:
        """Keep what the client asked of a run's messages (include_return_message_types) with it."""

    @abc.abstractmethod
    def last_stop_reasons(self, agent_ids: Sequence[str]) -> dict[str, str | None]:
        """Each agent's newest turn's stop reason (None while it runs; agents without a turn
        are left out): Letta's ``last_stop_reason``."""

    @abc.abstractmethod
    def interrupt_running_runs(self, agent_id: str, actor: RunActor = "agent",
                               conversation: ConversationScope = ALL_CONVERSATIONS) -> list[str]:
        """Mark the agent's runs still `running` (in one conversation, or in all) as `interrupted`
        (call it holding that conversation's turn lock, or for `sleep` the pass lock: then no live
        process runs them); returns their ids."""

    @abc.abstractmethod
    def request_cancel(self, agent_id: str, conversation: ConversationScope = ALL_CONVERSATIONS,
                       run_ids: Sequence[str] | None = None) -> list[str]:
        """Ask the agent's running turns (in one conversation, or all; only ``run_ids`` when given)
        to stop, whichever process runs them; returns their run ids."""

    @abc.abstractmethod
    def cancel_requested(self, run_id: str) -> bool:
        """Whether someone asked this run to stop (the process running it polls)."""

    @abc.abstractmethod
    def add_run_chunks(self, run_id: str, chunks: Sequence[tuple[int, str]]) -> None:
        """Keep SSE chunks of a background stream, numbered from 1 (a number already kept is skipped)."""

    @abc.abstractmethod
    def run_chunks(self, run_id: str, after: int = 0) -> list[tuple[int, str]]:
        """A background stream's kept chunks numbered after ``after``, in order."""

    @abc.abstractmethod
    def streamed_runs(self, run_ids: Sequence[str]) -> set[str]:
        """Which of these runs were streamed in the background (have chunks kept)."""

    @abc.abstractmethod
    def prune_run_chunks(self, keep_runs: int, keep_hours: float) -> None:
        """Forget the chunks of all but the newest ``keep_runs`` streams, and of any older than ``keep_hours``."""

    @abc.abstractmethod
    def start_run(self, agent_id: str, actor: RunActor = "agent", conversation_id: str | None = None) -> Run: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    def list_runs(self, *, agent_id: str | None = None, since: datetime | None = None,
                  status: str | None = None, actor: RunActor | None = None, limit: int = 50,
                  after: str | None = None, run_ids: Sequence[str] | None = None,
                  agent_ids: Sequence[str] | None = None, statuses: Sequence[str] | None = None,
                  order: Literal["asc", "desc"] = "desc", conversation_id: str | None = None) -> list[RunSummary]:
        """Newest first (or oldest with ``order="asc"``), with their totals; ``after`` is a run id
        to page on from, in that order."""

    @abc.abstractmethod
    def list_steps(self, *, run_id: str | None = None, agent_id: str | None = None, limit: int = 100,
                   after: str | None = None, order: Literal["asc", "desc"] = "asc", model: str | None = None,
                   start: datetime | None = None, end: datetime | None = None) -> list[Step]:
        """Steps with their tool calls, by creation time; ``after`` is a step id to page on from."""

    @abc.abstractmethod
    def get_step(self, step_id: str) -> Step: ...

    @abc.abstractmethod
    def set_step_feedback(self, step_id: str, feedback: str | None, tags: Sequence[str] | None) -> Step:
        """Record a person's verdict on a step (None leaves that part as it was)."""

    @abc.abstractmethod
    def step_messages(self, step_id: str, *, limit: int = 100, after: str | None = None,
                      order: Literal["asc", "desc"] = "asc") -> list[Message]:
        """The messages one step stored (its reply, tool calls and returns), in order."""

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Forget a finished run's record and its steps' (the messages it wrote stay: they are the
        agent's memory). A running run is refused: cancel it first."""

    @abc.abstractmethod
    def usage(self, *, since: datetime | None = None, agent_id: str | None = None, model: str | None = None,
              by: UsageGroup = "none") -> list[UsageRow]:
        """Step totals per group and actor, groups in order (days oldest first)."""

    @abc.abstractmethod
    def finish_run(self, run_id: str, status: str, stop_reason: str) -> None: ...

    @abc.abstractmethod
    def record_step(self, agent_id: str, step: StepRecord, messages: Sequence[NewMessage],
                    tool_calls: Sequence[ToolCallRecord]) -> tuple[str, list[Message]]:
        """Persist one step (its messages and tool calls) in one transaction; returns (step id, messages)."""

    @abc.abstractmethod
    def pending_tool_calls(self, agent_id: str, conversation: ConversationScope = ALL_CONVERSATIONS
                           ) -> list[ToolCallRecord]:
        """Calls waiting for approval (or a client's result), in one conversation or in all."""

    @abc.abstractmethod
    def unsettled_tool_calls(self, agent_id: str, conversation: ConversationScope = ALL_CONVERSATIONS
                             ) -> list[ToolCallRecord]:
        """Every call still pending, in the model's order: those waiting for a decision, and those
        (decision HELD) that need none, held until the calls of their step that wait are decided
        (Letta runs none of a step's calls before its approvals)."""

    @abc.abstractmethod
    def resolve_tool_call(self, tool_call_row_id: str, *, status: str, result: str, duration_ms: float | None,
                          message: NewMessage, decision: Decision | None = None) -> Message:
        """Settle a pending (approval) tool call and append its tool message, in one transaction."""

    @abc.abstractmethod
    def decided_calls(self, agent_id: str, tool_call_ids: Sequence[str]) -> list[ToolCallRecord]:
        """The settled calls among these, and every call settled in the same request as one of
        them, in the order they were made."""

    @abc.abstractmethod
    def list_tool_calls(self, agent_id: str, *, name: str | None = None, limit: int = 100) -> list[ToolCallRecord]: ...

    # -- tools ---------------------------------------------------------------
    @abc.abstractmethod
    def attach_tool(self, agent_id: str, tool: NewTool) -> ToolRecord:
        """Attach a tool to the agent, or refresh the attached tool of that name (schema, source, commit)."""

    @abc.abstractmethod
    def detach_tool(self, agent_id: str, name: str) -> bool:
        """Detach the agent's tool of that name; False when none was attached."""

    @abc.abstractmethod
    def list_agent_tools(self, agent_id: str) -> list[ToolRecord]: ...

    @abc.abstractmethod
    def tools_by_agent(self, agent_ids: Sequence[str]) -> dict[str, list[ToolRecord]]:
        """Each agent's attached tools by name, for many agents in one read."""

    @abc.abstractmethod
    def save_library_tool(self, tool: NewTool) -> ToolRecord:
        """Create or replace (by name) a tool of the shared library: source kept, attached to no agent.

        Attaching one to an agent copies its code into that agent's tool repo (the API's tools)."""

    @abc.abstractmethod
    def update_library_tool(self, tool_id: str, tool: NewTool) -> ToolRecord:
        """Replace a library tool's name, description, schema and source (the API's PATCH)."""

    @abc.abstractmethod
    def delete_tool(self, tool_id: str) -> list[str]:
        """Delete a tool and detach it from every agent; returns the ids of the agents it left."""

    @abc.abstractmethod
    def list_tools(self) -> list[ToolRecord]:
        """The library's tools and every agent's attached tools, by name."""

    @abc.abstractmethod
    def library_tools(self) -> list[ToolRecord]:
        """The shared library's tools alone, by name."""

    @abc.abstractmethod
    def get_tool(self, tool_id: str) -> ToolRecord: ...

    # -- evolutions and small facts -------------------------------------------
    @abc.abstractmethod
    def create_evolution(self, agent_id: str, branch: str, base_commit: str | None, *, title: str = "",
                         rationale: str = "", status: EvolutionStatus = "running") -> Evolution: ...

    @abc.abstractmethod
    def update_evolution(self, evolution_id: str, **fields: Unpack[EvolutionChanges]) -> Evolution:
        """Change any of the fields of `EvolutionChanges`."""

    @abc.abstractmethod
    def get_evolution(self, evolution_id: str) -> Evolution:
        """By id, or by a unique prefix of it."""

    @abc.abstractmethod
    def list_evolutions(self, agent_id: str | None = None,
                        status: EvolutionStatus | None = None) -> list[Evolution]:
        """Newest first."""

    @abc.abstractmethod
    def record_canary_calls(self, calls: Sequence[CanaryCall]) -> None:
        """Store live calls of canaried tools (joins an open transaction: the loop writes them with its step)."""

    @abc.abstractmethod
    def list_canary_calls(self, evolution_id: str) -> list[CanaryCall]:
        """Oldest first."""

    @abc.abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abc.abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    # -- archival ------------------------------------------------------------
    @abc.abstractmethod
    def insert_passages(self, agent_id: str, passages: Sequence[NewPassage], batch: int | None = None
                        ) -> list[Passage]:
        """Store passages (their embeddings of the agent's one width). ``batch``: the id that
        marks passages written together (one conversation, one document's chunks), whose
        neighbours lend each other context in hybrid search; None: independent notes."""

    @abc.abstractmethod
    def get_passage(self, agent_id: str, passage_id: str) -> Passage: ...

    @abc.abstractmethod
    def list_passages(self, agent_id: str, *, after: str | None = None, before: str | None = None,
                      limit: int = 50, ascending: bool = True, tags: Sequence[str] = (),
                      tag_match: TagMatch = "any") -> list[Passage]: ...

    @abc.abstractmethod
    def search_passages(self, agent_id: str, query: PassageQuery) -> list[PassageHit]: ...

    @abc.abstractmethod
    def delete_passages(self, agent_id: str, passage_ids: Sequence[str]) -> int: ...

    @abc.abstractmethod
    def passage_stats(self, agent_id: str) -> PassageStats: ...

    # -- moving an agent to another embedding model (sql/reembed.py) ---------
    @abc.abstractmethod
    def reembed_pending(self, agent_id: str, model: str, limit: int) -> list[tuple[int, str]]: ...

    @abc.abstractmethod
    def reembed_counts(self, agent_id: str, model: str) -> tuple[int, int, int]: ...

    @abc.abstractmethod
    def stage_vectors(self, agent_id: str, model: str, seqs: Sequence[int], matrix: Any) -> None: ...

    @abc.abstractmethod
    def switch_embedding_model(self, agent_id: str, model: str) -> bool: ...
