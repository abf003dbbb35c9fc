"""What a sleep pass may spend on one agent: `evolve.budget.tokens`. Every LLM call of the pass
(consolidation and proposal) goes through `BudgetedLLM`, which counts tokens and cost and
refuses the next call once the cap is reached, so the pass ends cleanly instead of running up
a bill. What was spent is stored on the evolution and shown by `memos evolve log`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from memos.core.completion import Completion, ToolDelta
from memos.core.llm import LLM
from memos.errors import MemosError
from memos.store.base import Run, StepRecord, Store


class BudgetReached(MemosError):
    """The pass's token budget for this agent is spent."""


class BudgetedLLM(LLM):
    """Counts, caps and records a pass's LLM calls: with a store, each call is a step of one run
    per agent pass (actor `sleep`), so `memos usage` and `memos runs` count passes apart."""

    def __init__(self, llm: LLM, cap_tokens: int, store: Store | None = None, agent_id: str | None = None) -> None:
        super().__init__(llm.config)
        self.inner = llm
        self.cap_tokens = cap_tokens
        self.store, self.agent_id = store, agent_id
        self.run: Run | None = None
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd: float | None = 0.0  # None once a call's price is unknown: never a made-up total
        self.calls = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def exhausted(self) -> bool:
        return self.tokens >= self.cap_tokens

    def refuse_if_exhausted(self) -> None:
        if self.exhausted:
            raise BudgetReached(f"the pass's token budget is spent ({self.tokens:,} of {self.cap_tokens:,} tokens)",
                                "raise evolve.budget.tokens to let a pass do more")

    def complete(self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, *,
                 on_text: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
                 stream: bool = True, on_tool: ToolDelta | None = None, max_tokens: int | None = None,
                 response_format: dict[str, Any] | None = None,
                 on_reasoning: Callable[[str], None] | None = None) -> Completion:
        self.refuse_if_exhausted()
        completion = self.inner.complete(model, messages, tools, on_text=on_text, cancel=cancel, stream=stream,
                                         on_tool=on_tool, max_tokens=max_tokens, response_format=response_format,
                                         on_reasoning=on_reasoning)
        self.calls += 1
        self._record(completion)
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        if self.cost_usd is not None:
            self.cost_usd = None if completion.cost_usd is None else self.cost_usd + completion.cost_usd
        return completion

    def _record(self, completion: Completion) -> None:
        if self.store is None or self.agent_id is None:
            return
        if self.run is None:
            self.run = self.store.start_run(self.agent_id, actor="sleep")
        self.store.record_step(self.agent_id, StepRecord(
            self.run.id, completion.model, completion.prompt_tokens, completion.completion_tokens, completion.cost_usd,
            completion.latency_ms, completion.finish_reason, cached_tokens=completion.cached_tokens,
            duration_ms=completion.latency_ms), [], [])

    def close(self, status: str = "completed") -> None:
        """End the pass's run (a pass killed before this leaves it for the next pass to close)."""
        if self.store is not None and self.run is not None:
            self.store.finish_run(self.run.id, status, "end_turn" if status == "completed" else "error")
            self.run = None

    def usage(self) -> dict[str, Any]:
        return {"llm_calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "tokens": self.tokens,
                "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6),
                "budget_tokens": self.cap_tokens}
