"""The agent loop: compile context, call the LLM, run tools under the rules, persist every step.

`AgentRunner.send()` is a generator of typed events (core/events.py). Each
step (one LLM call, its messages and tool calls) is persisted in one
transaction. Cancellation (an Event, or Ctrl-C while waiting on the model)
stops at the next safe point and keeps what was produced.
"""

from __future__ import annotations

import functools
import json
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

from memos.core import events as ev
from memos.core.context import (
    compile_context, eviction_split, new_summary_message, summary_messages, to_openai,
)
from memos.core.llm import LLM, Completion, count_tokens
from memos.core.rules import RuleState
from memos.core.workspace import Workspace
from memos.errors import InvalidInput, MemosError, ProviderError
from memos.store import ids
from memos.store.base import Agent, NewMessage, Run, StepRecord, ToolCallRecord
from memos.tools.builtins import BUILTINS, TERMINAL_TOOLS, ToolContext
from memos.tools.registry import ToolSpec, build_spec, check_arguments

if TYPE_CHECKING:
    from memos.tools.custom import AgentTools

DEFAULT_MAX_STEPS = 50
TOOL_RETURN_LIMIT = 50_000
SUMMARY_WORDS = 300


class _DaemonWorkers:
    """Daemon threads reused across LLM calls: starting a thread per step cost about 1 ms.

    Daemon threads (unlike ThreadPoolExecutor's) never hold up exit while a cancelled call
    still waits on the provider; when none is idle, another is started.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        if start:
            threading.Thread(target=self._serve, name="memos-llm", daemon=True).start()
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


_llm_workers = _DaemonWorkers()


@functools.cache
def _builtin_specs() -> tuple[ToolSpec, ...]:
    return tuple(build_spec(f) for f in BUILTINS)


def builtin_specs() -> dict[str, ToolSpec]:
    """The built-in tools' specs, built once per process (~1 ms of signature parsing each time)."""
    return {spec.name: spec for spec in _builtin_specs()}


def _cap(text: str) -> str:
    if len(text) <= TOOL_RETURN_LIMIT:
        return text
    return text[:TOOL_RETURN_LIMIT] + f"\n[truncated: {len(text) - TOOL_RETURN_LIMIT:,} more chars]"


class AgentRunner:
    def __init__(self, ws: Workspace, agent: Agent, *, model: str | None = None,
                 max_steps: int = DEFAULT_MAX_STEPS, llm: LLM | None = None,
                 custom_tools: "AgentTools | None" = None) -> None:
        if max_steps < 1:
            raise InvalidInput("max steps must be at least 1")
        self.ws = ws
        self.agent = agent
        self.model = model or agent.model
        self.max_steps = max_steps
        self.llm = llm or LLM(ws.config)
        self.builtins = builtin_specs()
        self.specs = dict(self.builtins)
        self.custom_tools = custom_tools  # the agent's own tools (hot-reloaded), run in the sandbox
        self.threshold = float(ws.config.get("summarize_threshold"))
        ws.store.tune_for_long_running()

    # -- public entry points ---------------------------------------------------------
    def send(self, text: str, cancel: threading.Event | None = None) -> Iterator[ev.Event]:
        if not text.strip():
            raise InvalidInput("the message is empty", "give some text to send")
        self._refuse_if_pending()
        self.refresh_tools()
        with self.ws.store.transaction():  # the message and its run start together
            self.ws.store.append_messages(self.agent.id, [NewMessage("user", text)])
            run = self.ws.store.start_run(self.agent.id)
        yield from self._run(cancel or threading.Event(), RuleState(self.agent.tool_rules), run)

    def approve(self, cancel: threading.Event | None = None) -> Iterator[ev.Event]:
        pending = self._pending()
        self.refresh_tools()
        state = RuleState(self.agent.tool_rules)
        ends = False
        for call in pending:
            result, status, _ = yield from self._execute(call.name, call.arguments, call.tool_call_id, state)
            self.ws.store.resolve_tool_call(call.id, status=status, result=result, duration_ms=None,
                                            message=NewMessage("tool", result, name=call.name,
                                                               tool_call_id=call.tool_call_id))
            ends = ends or (status == "success" and state.ends_turn(call.name, call.name in TERMINAL_TOOLS))
        if ends:
            run = self.ws.store.start_run(self.agent.id)
            self.ws.store.finish_run(run.id, "completed", "end_turn")
            yield ev.Stop("end_turn", 0, run.id)
            return
        yield from self._run(cancel or threading.Event(), state)

    def deny(self, reason: str, cancel: threading.Event | None = None) -> Iterator[ev.Event]:
        pending = self._pending()
        why = reason.strip() or "no reason given"
        for call in pending:
            result = f"Error: the user denied this tool call. Reason: {why}"
            self.ws.store.resolve_tool_call(call.id, status="denied", result=result, duration_ms=None,
                                            message=NewMessage("tool", result, name=call.name,
                                                               tool_call_id=call.tool_call_id))
            yield ev.ToolReturn(call.tool_call_id, call.name, "error", result)
        yield from self._run(cancel or threading.Event(), RuleState(self.agent.tool_rules))

    def refresh_tools(self) -> None:
        """Built-ins plus the attached custom tools as loaded now (once per turn: attachments may change)."""
        if self.custom_tools is not None:
            custom = {n: s for n, s in self.custom_tools.specs().items() if n not in self.builtins}
            self.specs = {**self.builtins, **custom}

    # -- the loop ---------------------------------------------------------------------
    def _pending(self) -> list[ToolCallRecord]:
        pending = self.ws.store.pending_tool_calls(self.agent.id)
        if not pending:
            raise InvalidInput(f"agent '{self.agent.name}' has no tool call waiting for approval")
        return pending

    def _refuse_if_pending(self) -> None:
        pending = self.ws.store.pending_tool_calls(self.agent.id)
        if pending:
            raise InvalidInput(f"agent '{self.agent.name}' is waiting for approval of {pending[0].name}",
                               "run `memos approve` or `memos deny --reason ...` first")

    def _run(self, cancel: threading.Event, state: RuleState, run: Run | None = None) -> Iterator[ev.Event]:
        store = self.ws.store
        run = run or store.start_run(self.agent.id)
        self._finished = False
        reason: ev.StopReason = "max_steps"
        step = 0
        try:
            for step in range(1, self.max_steps + 1):
                if cancel.is_set():
                    reason = "cancelled"
                    break
                outcome = yield from self._step(run.id, step, state, cancel)
                if outcome is not None:
                    reason = outcome
                    break
        except ProviderError as exc:
            yield ev.Error(str(exc))
            store.finish_run(run.id, "failed", "error")
            yield ev.Stop("error", step, run.id)
            raise
        if not self._finished:
            self._finish(run.id, reason)
        yield ev.Stop(reason, step, run.id)

    def _step(self, run_id: str, number: int, state: RuleState,
              cancel: threading.Event) -> Iterator[ev.Event]:
        compiled = yield from self._context()
        available = list(self.specs)
        allowed = state.allowed(available)
        tools = [self.specs[name].openai_schema() for name in allowed]
        completion = yield from self._call_llm(compiled, tools, cancel)
        yield ev.Usage(number, completion.model, completion.prompt_tokens, completion.completion_tokens,
                       completion.cost_usd, completion.latency_ms)
        record = StepRecord(run_id, completion.model, completion.prompt_tokens, completion.completion_tokens,
                            completion.cost_usd, completion.latency_ms,
                            "cancelled" if completion.cancelled else completion.finish_reason)
        if completion.reasoning:
            yield ev.Reasoning(completion.reasoning)

        if completion.cancelled or not completion.tool_calls:
            text = completion.content
            messages = [NewMessage("assistant", text)] if text else []
            reason: ev.StopReason = "cancelled" if completion.cancelled else "end_turn"
            with self.ws.store.transaction():  # the last step and the end of its run, together
                _, stored = self.ws.store.record_step(self.agent.id, record, messages, [])
                self._finish(run_id, reason)
            if text:
                yield ev.Assistant(text, stored[0].id if stored else None)
            return reason

        if completion.content:
            yield ev.Reasoning(completion.content)
        assistant = NewMessage("assistant", completion.content, tool_calls=[
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.tool_calls])
        messages: list[NewMessage] = [assistant]
        records: list[ToolCallRecord] = []
        stop: ev.StopReason | None = None
        for call in completion.tool_calls:
            if stop == "requires_approval":
                result = f"Error: not run, because {records[-1].name} is waiting for approval."
                messages.append(NewMessage("tool", result, name=call.name, tool_call_id=call.id))
                records.append(ToolCallRecord(ids.new_id("toolcall"), self.agent.id, call.id, call.name,
                                              call.arguments, result, "error", 0.0))
                continue
            arguments: Any = call.arguments
            yield ev.ToolCall(call.id, call.name, _parsed_or_raw(call.arguments))
            violation = state.violation(call.name, available)
            if violation is None and state.needs_approval(call.name):
                state.record(call.name)
                yield ev.ApprovalRequest(call.id, call.name, _parsed_or_raw(call.arguments))
                records.append(ToolCallRecord(ids.new_id("toolcall"), self.agent.id, call.id, call.name,
                                              arguments, None, "pending", None))
                stop = "requires_approval"
                continue
            started = time.perf_counter()
            if violation is not None:
                result, status = f"Error: {violation}", "error"
                yield ev.ToolReturn(call.id, call.name, "error", result)
            else:
                result, status, _ = yield from self._execute(call.name, call.arguments, call.id, state)
            messages.append(NewMessage("tool", result, name=call.name, tool_call_id=call.id))
            commit = getattr(self.specs[call.name].function, "tool_commit", None) if call.name in self.specs else None
            records.append(ToolCallRecord(ids.new_id("toolcall"), self.agent.id, call.id, call.name, arguments,
                                          result, status, (time.perf_counter() - started) * 1000,
                                          tool_commit=commit))
            if status == "success" and stop is None and state.ends_turn(call.name, call.name in TERMINAL_TOOLS):
                missing = state.missing_before_exit()
                stop = None if missing else "end_turn"
        if stop is None and cancel.is_set():
            stop = "cancelled"
        with self.ws.store.transaction():
            self.ws.store.record_step(self.agent.id, record, messages, records)
            if stop is not None:
                self._finish(run_id, stop)
        return stop

    def _finish(self, run_id: str, reason: ev.StopReason) -> None:
        self.ws.store.finish_run(run_id, "cancelled" if reason == "cancelled" else "completed", reason)
        self._finished = True

    def _execute(self, name: str, raw_arguments: str, call_id: str, state: RuleState) -> Iterator[ev.Event]:
        """Run one tool; yields its events and returns (result text, status, ctx)."""
        ctx = ToolContext(self.ws.store, self.agent)
        spec = self.specs.get(name)
        state.record(name)
        try:
            if spec is None:
                raise InvalidInput(f"there is no tool named '{name}'; available: {', '.join(self.specs)}")
            try:
                arguments = json.loads(raw_arguments) if raw_arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"the arguments of {name} are not valid JSON ({exc.msg} at column {exc.colno}); "
                                   "call the tool again with a JSON object") from None
            if not isinstance(arguments, dict):
                raise InvalidInput(f"the arguments of {name} must be a JSON object")
            arguments.pop("request_heartbeat", None)
            check_arguments(name, spec.parameters, arguments)
            value = spec.function(ctx, **arguments)
            result, status = _cap("None" if value is None else str(value)), "success"
        except MemosError as exc:
            result, status = _cap(f"Error: {exc}"), "error"
        except Exception as exc:  # a tool bug must not crash the loop
            result, status = _cap(f"Error: {type(exc).__name__}: {exc}"), "error"
        for edit in ctx.edits:
            yield ev.MemoryEdit(edit.after.label, edit.before.value, edit.after.value, edit.after.version)
        for text in ctx.sent_messages:
            yield ev.Assistant(text)
        yield ev.ToolReturn(call_id, name, status, result)  # type: ignore[arg-type]
        return result, status, ctx

    # -- LLM and context ------------------------------------------------------------------
    def _call_llm(self, compiled: list[dict[str, Any]], tools: list[dict[str, Any]],
                  cancel: threading.Event) -> Iterator[ev.Event]:
        """Stream the completion from a worker thread so deltas reach the front end as they come."""
        updates: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                result = self.llm.complete(self.model, compiled, tools or None,
                                           on_text=lambda t: updates.put(("delta", t)), cancel=cancel)
                updates.put(("done", result))
            except BaseException as exc:  # handed to the generator's thread
                updates.put(("error", exc))

        _llm_workers.submit(work)
        while True:
            try:
                kind, value = updates.get(timeout=0.1)
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                cancel.set()  # the worker stops at the next chunk; keep what it has
                continue
            if kind == "delta":
                yield ev.AssistantDelta(value)
            elif kind == "error":
                raise value
            else:
                completion: Completion = value
                if cancel.is_set():
                    completion.cancelled = True
                return completion

    def _context(self) -> Iterator[ev.Event]:
        compiled = compile_context(self.ws.store, self.agent)
        window = self.agent.context_window
        tokens = count_tokens(self.model, compiled.messages)
        if tokens <= self.threshold * window or len(compiled.history) < 2:
            return compiled.messages
        counts = [count_tokens(self.model, [to_openai(m)]) for m in compiled.history]
        system_tokens = count_tokens(self.model, compiled.messages[:1])
        budget = max(0, int(window * 0.5) - system_tokens)
        cut = eviction_split(compiled.history, counts, budget)
        if cut == 0:
            yield ev.Warning("the context is nearly full but no older messages can be summarised yet")
            return compiled.messages
        evicted = compiled.history[:cut]
        try:
            summary = self.llm.complete(self.model, summary_messages(compiled.summary, evicted, SUMMARY_WORDS),
                                        stream=False)
        except ProviderError as exc:
            yield ev.Warning(f"summarising older messages failed, kept them in context: {exc}")
            return compiled.messages
        text = summary.content.strip()
        if not text or count_tokens(self.model, [{"role": "system", "content": text}]) > window * 0.25:
            yield ev.Warning("the summary was empty or too long; kept the older messages in context")
            return compiled.messages
        with self.ws.store.transaction():
            self.ws.store.append_messages(self.agent.id, [new_summary_message(text)])
            stale = [m.id for m in evicted] + ([compiled.summary.id] if compiled.summary else [])
            self.ws.store.set_in_context(self.agent.id, stale, False)
        yield ev.Summary(len(evicted), text)
        return compile_context(self.ws.store, self.agent).messages


def _parsed_or_raw(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except (json.JSONDecodeError, TypeError):
        return arguments
