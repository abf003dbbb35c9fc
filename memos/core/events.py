"""The typed stream the agent loop yields. Front ends only render these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

StopReason = Literal["end_turn", "max_steps", "requires_approval", "cancelled", "error", "no_tool_call",
                     "max_tokens_exceeded"]


@dataclass(frozen=True)
class Reasoning:
    text: str
    type: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning as it arrives (before the step is complete)."""

    text: str
    type: Literal["reasoning_delta"] = "reasoning_delta"


@dataclass(frozen=True)
class AssistantDelta:
    """A piece of streamed assistant text (before the step is complete)."""

    text: str
    type: Literal["assistant_delta"] = "assistant_delta"


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call's arguments as the LLM writes them (for token streaming)."""

    index: int
    tool_call_id: str
    name: str
    arguments: str
    type: Literal["tool_call_delta"] = "tool_call_delta"


@dataclass(frozen=True)
class Assistant:
    text: str
    message_id: str | None = None
    type: Literal["assistant"] = "assistant"


@dataclass(frozen=True)
class ToolCall:
    tool_call_id: str
    name: str
    arguments: Any
    type: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class ToolReturn:
    tool_call_id: str
    name: str
    status: Literal["success", "error"]
    result: str | None
    message_id: str | None = None  # the stored tool message's id
    type: Literal["tool_return"] = "tool_return"


@dataclass(frozen=True)
class MemoryEdit:
    label: str
    before: str
    after: str
    version: int
    type: Literal["memory_edit"] = "memory_edit"


@dataclass(frozen=True)
class ApprovalRequest:
    tool_call_id: str
    name: str
    arguments: Any
    type: Literal["approval_request"] = "approval_request"


@dataclass(frozen=True)
class Usage:
    step: int
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    cached_tokens: int = 0
    type: Literal["usage"] = "usage"


@dataclass(frozen=True)
class Summary:
    evicted: int
    text: str
    type: Literal["summary"] = "summary"


@dataclass(frozen=True)
class Warning:
    message: str
    type: Literal["warning"] = "warning"


@dataclass(frozen=True)
class Waiting:
    """Another turn of the agent runs (here or in another process); this one waits for it."""

    agent: str
    holder: str | None  # 'pid 123', when it can be told
    type: Literal["waiting"] = "waiting"


@dataclass(frozen=True)
class Error:
    message: str
    type: Literal["error"] = "error"


@dataclass(frozen=True)
class RunStarted:
    """The turn's run exists (its id names everything the turn stores)."""

    run_id: str
    type: Literal["run_started"] = "run_started"


@dataclass(frozen=True)
class StepStarted:
    """A step (one LLM call and its tools) begins; what it stores will carry this id, and the
    message the model's answer is stored as will have ``message_id`` (its reasoning, reply and
    tool calls are shown under that id as they stream, as they are listed later)."""

    step_id: str
    message_id: str | None = None
    type: Literal["step_started"] = "step_started"


@dataclass(frozen=True)
class Stop:
    reason: StopReason
    steps: int
    run_id: str
    type: Literal["stop_reason"] = "stop_reason"


Event = (Reasoning | ReasoningDelta | AssistantDelta | ToolCallDelta | Assistant | ToolCall | ToolReturn | MemoryEdit | ApprovalRequest | Usage
         | Summary | Warning | Waiting | Error | RunStarted | StepStarted | Stop)


@dataclass
class TurnResult:
    """Everything a turn produced, collected from its events (for --json and the API)."""

    events: list[Any] = field(default_factory=list)

    @property
    def stop(self) -> Stop | None:
        return next((e for e in reversed(self.events) if isinstance(e, Stop)), None)

    @property
    def reply(self) -> str:
        return "\n\n".join(e.text for e in self.events if isinstance(e, Assistant))

    @property
    def usage(self) -> dict[str, Any]:
        steps = [e for e in self.events if isinstance(e, Usage)]
        unpriced = sum(1 for e in steps if e.cost_usd is None)
        return {"steps": len(steps), "prompt_tokens": sum(e.prompt_tokens for e in steps),
                "completion_tokens": sum(e.completion_tokens for e in steps),
                "cached_tokens": sum(e.cached_tokens for e in steps),
                "cost_usd": None if unpriced else sum(e.cost_usd or 0.0 for e in steps),
                "unpriced_steps": unpriced, "models": sorted({e.model for e in steps})}


def consume(events: Any, cancel: Any, handle: Any) -> bool:
    """Feed a turn's events to ``handle``; Ctrl-C asks the loop to stop and keeps draining it.

    The loop then stops at its next safe point and persists what was produced, so
    an interrupted reply is kept. Returns True when the user interrupted.
    """
    interrupted = False
    iterator = iter(events)
    while True:
        try:
            event = next(iterator)
        except StopIteration:
            return interrupted
        except KeyboardInterrupt:
            # Raised inside the loop outside its model wait: the turn cannot resume.
            return True
        try:
            handle(event)
        except KeyboardInterrupt:
            cancel.set()
            interrupted = True
