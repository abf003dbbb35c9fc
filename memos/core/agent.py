"""The agent loop: compile context, call the LLM, run tools under the rules, persist every step.

`AgentRunner.send()` is a generator of typed events (core/events.py). Each
step (one LLM call, its messages and tool calls) is persisted in one
transaction. Cancellation (an Event, or Ctrl-C while waiting on the model)
stops at the next safe point and keeps what was produced.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from memos.core import events as ev
from memos.core.completion import partial_string_field
from memos.core.context import (
    MAX_IN_CONTEXT,
    Compiled,
    available_skills,
    compile_context,
    eviction_split,
    is_summary,
    message_view_limit,
    new_summary_message,
    sendable_arguments,
    summary_chunks,
    summary_request,
    to_openai,
    unsummarised_note,
)
from memos.core.decisions import CallDecision, denial
from memos.core.limits import DEFAULT_MAX_STEPS, TOOL_RETURN_LIMIT, check_message_size, storable
from memos.core.llm import LLM, Completion, ContextTooLong
from memos.core.rules import RuleState
from memos.core.tokens import count_tokens, fits_within
from memos.core.turns import recover, wait_for_turn, watch_for_cancel
from memos.core.workspace import Workspace
from memos.errors import AlreadyAnswered, InvalidInput, MemosError, ProviderError, ToolCodeFailed
from memos.store import ids
from memos.store.base import (
    HELD,
    Agent,
    Conversation,
    Decision,
    Message,
    NewMessage,
    Role,
    Run,
    StepRecord,
    Store,
    ToolCallRecord,
)
from memos.store.turnlock import TurnLock
from memos.tools.builtins import TERMINAL_TOOLS, ToolContext, builtin_specs
from memos.tools.offered import offered_for
from memos.tools.registry import FUNCTION_NAME, ToolSpec, check_arguments
from memos.tools.reply import REPLY_TOOL

if TYPE_CHECKING:
    from memos.tools.custom import AgentTools

SUMMARY_WORDS = 300
ROOM_ATTEMPTS = 3  # requests a step makes when the server says the prompt is too long (summarising in between)
KEEP_AFTER_COUNT_CAP = MAX_IN_CONTEXT // 2  # messages left in context when the count cap forces a summary
EMBEDDING_TOOLS = {"archival_memory_insert", "archival_memory_search", "semantic_search_files"}
OTHER_TURN_WAIT = 30.0  # seconds a multi-agent tool waits for the other agent to be free
# What the model reads when a decision is sent again after it was applied (Letta's words).
KEEP_GOING = ("<system-alert>Automated keep-alive ping. Ignore this message and continue from where you "
              "stopped.</system-alert>")
T = TypeVar("T")
StopReason = ev.StopReason
# A step of the loop: yields events for the front end, returns its result to the loop.
Events = Generator[ev.Event, None, T]


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


def _cap(text: str, limit: int | None = None) -> str:
    """A tool result as the agent reads it: at most the tool's return_char_limit (memos's cap by default)."""
    cap = limit or TOOL_RETURN_LIMIT
    text = storable(text)  # a NUL or lone surrogate from a tool must not fail the turn's write
    if len(text) <= cap:
        return text
    # Letta's note, word for word: clients and Letta's tests look for it
    return f"{text[:cap]}... [NOTE: function output was truncated since it exceeded the character limit " \
           f"({len(text)} > {cap})]"


def client_tool_specs(tools: Sequence[dict[str, Any]]) -> dict[str, ToolSpec]:
    """A request's client-side tools ({name, description, parameters}) as the loop's tools. The
    loop never runs one: calling it pauses the turn for the client's answer."""
    specs: dict[str, ToolSpec] = {}
    for tool in tools:
        name = tool.get("name") if isinstance(tool, dict) else None
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise InvalidInput(f"client tool name {name!r} is not a function name", "use letters, digits, _ or -")
        parameters = tool.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise InvalidInput(f"client tool {name}'s parameters must be a JSON schema object")

        def on_client(ctx: Any, _name: str = name, **arguments: Any) -> Any:
            raise InvalidInput(f"{_name} runs on the client; its result comes back in an approval message")

        specs[name] = ToolSpec(name, str(tool.get("description") or ""),
                               {"type": "object", "properties": {}, **parameters}, on_client)
    return specs


class AgentRunner:
    """Runs an agent's turns. Each public entry point is a generator of events that holds the
    turn lock of the agent's conversation for the whole turn: turns of one conversation never
    interleave, in any process (turns in different conversations of an agent may run at once;
    memory edits are compare-and-set, so neither loses the other's).

    ``turn_wait``: seconds to wait for another turn of the agent to finish (None: as long as it
    takes; 0: not at all, `AgentBusy` at once)."""

    def __init__(self, ws: Workspace, agent: Agent, *, model: str | None = None,
                 max_steps: int = DEFAULT_MAX_STEPS, llm: LLM | None = None,
                 custom_tools: AgentTools | None = None, turn_wait: float | None = None,
                 client_tools: Sequence[dict[str, Any]] = (), conversation: Conversation | None = None,
                 system_prompt: str | None = None, client_skills: Sequence[dict[str, Any]] = ()) -> None:
        if max_steps < 1:
            raise InvalidInput("max steps must be at least 1")
        self.ws = ws
        self.agent = agent
        # One of the agent's conversations (None: its own): the turn's messages, context and runs
        # are that conversation's; memory blocks and archival memory are the agent's.
        self.conversation = conversation
        self.model_override = model
        self.system_override = system_prompt  # this runner's turns only; the agent's own stays stored
        if system_prompt is not None:
            from memos.core.limits import MAX_SYSTEM_CHARS, check_text

            check_text(system_prompt, "system prompt", MAX_SYSTEM_CHARS)
        self.skills_block = available_skills(client_skills)  # the client's skills, named to the model, never stored
        self.max_steps = max_steps
        self.llm = llm or LLM(ws.config)
        self.builtins = builtin_specs()
        self.specs = dict(self.builtins)
        self.custom_tools = custom_tools  # the agent's own tools (hot-reloaded), run in the sandbox
        # Tools the request brought, which the client runs (Letta's client_tools): calling one pauses
        # the turn as an approval does; the client answers with the tool's return (supply).
        self.client_specs = client_tool_specs(client_tools)
        self.threshold = float(ws.config.get("summarize_threshold"))
        self.turn_wait = turn_wait
        self.seen: dict[str, int] = {}  # block label -> version the agent has seen (compare-and-set edits)
        self._run_id: str | None = None  # the run under way (its summary calls are its steps too)
        self._answer_id = ids.new_id("message")  # the id the step under way stores the model's answer under
        self._turn_lock: TurnLock | None = None  # held while a turn runs: its writes are fenced by it
        self._system_read: str | None = None  # the system message the step under way sent
        self.turn_started = 0.0

    @property
    def model(self) -> str:
        return self.model_override or (self.conversation and self.conversation.model) or self.agent.model

    @model.setter
    def model(self, name: str) -> None:
        self.model_override = name

    @property
    def conversation_id(self) -> str | None:
        return self.conversation.id if self.conversation is not None else None

    def _message(self, role: Role, content: str, **fields: Any) -> NewMessage:
        """A message of this turn, in the runner's conversation."""
        return NewMessage(role, storable(content), conversation_id=self.conversation_id, **fields)

    # -- public entry points ---------------------------------------------------------
    def send(self, text: str, cancel: threading.Event | None = None,
             system_notes: Sequence[str] = (), otid: str | None = None) -> Iterator[ev.Event]:
        """A turn for a user message; ``system_notes`` go into the log first as system messages
        (Letta takes role "system" messages from clients; the agent reads them in order).
        ``otid``, the client's id for the message, makes a retry safe: a message already stored
        with it is not stored again; if its turn was cut short (its process died or hung) it is
        answered now, and if it was answered, `AlreadyAnswered` names the run that did."""
        notes = [note for note in system_notes if note.strip()]
        if not text.strip() and not notes:
            raise InvalidInput("the message is empty", "give some text to send")
        for piece in (text, *notes):
            check_message_size(piece)
        return self._exclusive(lambda: self._send(text, cancel or threading.Event(), notes, otid))

    def approve(self, cancel: threading.Event | None = None, call_ids: Sequence[str] = (),
                follow_up: str = "") -> Iterator[ev.Event]:
        """Run the waiting tool calls; ``call_ids``, when a client names them, must be those calls.
        ``follow_up`` (here and in deny and supply): a user message sent with the decision, which
        the model reads after the calls' results (Letta takes both in one request)."""
        return self._exclusive(lambda: self._approve(cancel or threading.Event(), call_ids, follow_up))

    def deny(self, reason: str, cancel: threading.Event | None = None,
             call_ids: Sequence[str] = (), follow_up: str = "") -> Iterator[ev.Event]:
        return self._exclusive(lambda: self._deny(reason, cancel or threading.Event(), call_ids, follow_up))

    def decide(self, decisions: Mapping[str, CallDecision], cancel: threading.Event | None = None,
               follow_up: str = "") -> Iterator[ev.Event]:
        """Each waiting call decided on its own (tool call id -> decision): approved ones run,
        denied ones return the denial, and the client's results stand for the calls it ran (how a
        client-side tool answers); every waiting call must be decided. Then the turn goes on
        (Letta's per-call approvals)."""
        return self._exclusive(lambda: self._decide(decisions, cancel or threading.Event(), follow_up))

    def compact(self, everything: bool = False) -> Iterator[ev.Event]:
        """Summarise the older part of the conversation's context now, between turns (Letta's
        compact): at least half of it leaves the context (stays searchable) for one summary;
        with ``everything`` (Letta's mode "all") all of it, the summary alone remaining.
        Yields a Summary event when something was summarised."""
        def compact_now() -> Events[None]:
            yield from self._context(force=True, everything=everything)

        return self._exclusive(compact_now)

    def preview(self, text: str, system_notes: Sequence[str] = ()) -> dict[str, Any]:
        """The request the first step of a turn for this message would send to the model, built
        the way the loop builds it, without calling the model or storing anything (Letta's
        preview-raw-payload). Summarising, if the prompt were over its threshold, is not shown."""
        self.refresh_tools()
        compiled = compile_context(self.ws.store, self.agent, self.conversation_id).messages
        incoming = [{"role": "system", "content": note} for note in system_notes if note.strip()]
        if text.strip():
            incoming.append({"role": "user", "content": text})
        return {"model": self.model, "messages": [*compiled, *incoming],
                "tools": self._tool_schemas(self._rules()), "stream": True}

    def _rules(self) -> RuleState:
        """The agent's tool rules, with an approval rule for each attached tool that requires
        approval (Letta's default_requires_approval, inherited or set per agent): a flag that gates
        a call is never left out."""
        gated = [{"type": "requires_approval", "tool_name": t.name}
                 for t in self.ws.store.list_agent_tools(self.agent.id) if t.requires_approval]
        return RuleState([*self.agent.tool_rules, *gated])

    def _tool_schemas(self, state: RuleState) -> list[dict[str, Any]]:
        """The tools a step offers the model: those the rules allow now."""
        return [self.specs[name].openai_schema() for name in state.allowed(list(self.specs))]

    def refresh_tools(self) -> None:
        """Built-ins, the attached custom tools as loaded now (once per turn: attachments may change),
        and the request's client tools, which take the place of a tool of the same name."""
        custom = {} if self.custom_tools is None else {
            n: s for n, s in self.custom_tools.specs().items() if n not in self.builtins}
        # The built-ins this agent is offered (tools/offered.py); a custom tool takes the place of a
        # file tool of the same name.
        self.specs = {**offered_for(self.ws.store, self.agent), **custom, **self.attached_letta_tools(),
                      **self.client_specs}

    def attached_letta_tools(self) -> dict[str, ToolSpec]:
        """Letta's multi-agent tools the agent was given (tool rows of their own source type)."""
        from memos.tools.multi_agent import MULTI_AGENT_TOOLS, SOURCE_TYPE

        return {r.name: MULTI_AGENT_TOOLS[r.name] for r in self.ws.store.list_agent_tools(self.agent.id)
                if r.source_type == SOURCE_TYPE and r.name in MULTI_AGENT_TOOLS}

    # -- turns -----------------------------------------------------------------------------
    def _exclusive(self, turn: Callable[[], Events[None]]) -> Iterator[ev.Event]:
        lock = self.ws.store.turn_lock(self.agent.id, self.conversation_id)  # conversations run at once
        yield from wait_for_turn(lock, self.agent, self.turn_wait)
        self._turn_lock = lock
        self.turn_started = time.monotonic()  # the turn's own time starts here, after any wait
        try:
            self.agent = self.ws.store.get_agent(self.agent.id)  # as it is now, after any wait
            if self.system_override is not None or self.skills_block:
                self.agent = replace(self.agent, system=(self.system_override or self.agent.system) + self.skills_block)
            interrupted = recover(self.ws.store, self.agent, self.conversation_id)
            if self.conversation is not None:  # as it is now (renamed, or deleted while we waited)
                self.conversation = self.ws.store.get_conversation(self.conversation.id)
            if interrupted:
                yield ev.Warning(f"{len(interrupted)} earlier turn(s) of agent '{self.agent.name}' had been "
                                 "interrupted (a process stopped mid-turn); they are marked interrupted")
            yield from turn()
        finally:
            self._turn_lock = None
            lock.release()

    @contextmanager
    def _turn_write(self) -> Iterator[None]:
        """One write of the turn, in a transaction that first checks the turn is still this
        process's: where a hung process's turn can be taken over (a lease on PostgreSQL), what
        the stale turn writes after the takeover is refused (TurnLost) instead of doubling it."""
        with self.ws.store.transaction():
            if self._turn_lock is not None:
                self._turn_lock.fence()
            yield

    def _send(self, text: str, cancel: threading.Event, notes: Sequence[str] = (),
              otid: str | None = None) -> Events[None]:
        self._refuse_if_pending()
        sent_before = self._sent_before(otid) if otid else None
        self.refresh_tools()
        with self._turn_write():  # the message and its run start together
            run = self.ws.store.start_run(self.agent.id, conversation_id=self.conversation_id)
            if sent_before is not None:
                # Answered by this run, after whatever was said since it first came: it moves to
                # the end of the log (the model answers the last message), and a later retry
                # finds it answered.
                self.ws.store.requeue_message(sent_before.id, run.id)
            else:
                self.ws.store.append_messages(self.agent.id, [
                    *(self._message("system", note, run_id=run.id) for note in notes),
                    *([replace(self._message("user", text, run_id=run.id), otid=otid)] if text.strip() else [])])
            if self.conversation is not None:
                self.conversation = self.ws.store.update_conversation(self.conversation.id, touched=True)
        yield from self._run(run, cancel, self._rules())

    def _sent_before(self, otid: str) -> Message | None:
        """The message a client sent before with this otid, when this is a retry of it: None when
        it is new; raises `AlreadyAnswered` when its turn ended (the client asked again after
        losing the answer)."""
        kind, stored, run = retry_of(self.ws.store, self.agent.id, otid)
        if kind == "new":
            return None
        if kind == "redo":
            return stored
        assert stored is not None and run is not None
        raise AlreadyAnswered(f"message {otid} was already sent, and answered by run {run.id} ({run.status})",
                              f"read its answer: GET /v1/runs/{run.id}/messages")

    def _approve(self, cancel: threading.Event, call_ids: Sequence[str] = (), follow_up: str = "") -> Events[None]:
        pending = self._pending(call_ids)
        if pending is None:  # the same decision sent again
            return (yield from self._carry_on(cancel, follow_up))
        self.refresh_tools()
        state = self._rules()
        with self._turn_write():
            run = self.ws.store.start_run(self.agent.id, conversation_id=self.conversation_id)
        return (yield from self._run(run, cancel, state, first=self._then_user(
            lambda: self._run_approved(pending, state, run), run, follow_up)))

    def _then_user(self, first: Callable[[], Events[StopReason | None]], run: Run,
                   follow_up: str) -> Callable[[], Events[StopReason | None]]:
        """``first``, then the user's follow-up message (if any) into the context, in this run."""
        if not follow_up.strip():
            return first

        def both() -> Events[StopReason | None]:
            stop = yield from first()
            with self._turn_write():
                self.ws.store.append_messages(self.agent.id, [self._message("user", follow_up, run_id=run.id)])
            return stop

        return both

    def _settled_already(self, call_ids: Sequence[str]) -> bool:
        """Whether a decision sent when nothing waits is a retry of one already applied (Letta's
        idempotent retry: a client that lost the answer, say to a cancel, sends the same approval):
        the calls named are exactly those one earlier decision settled together."""
        store = self.ws.store
        if not call_ids:
            return False
        settled = store.decided_calls(self.agent.id, call_ids)
        batches = {call.decision_batch for call in settled}
        if len(batches) != 1 or {call.tool_call_id for call in settled} != set(call_ids):
            return False
        # As Letta checks: their results are among the last messages in context, or, when a compaction
        # has just emptied the context, the newest results in the log.
        recent = store.list_messages(self.agent.id, limit=10, order="desc", in_context=True,
                                     conversation=self.conversation_id)
        if not any(m.role != "system" for m in recent):
            recent = [m for m in store.list_messages(self.agent.id, limit=len(call_ids) + 10, order="desc",
                                                     conversation=self.conversation_id) if m.role == "tool"]
            recent = recent[:len(call_ids)]
        return set(call_ids) <= {m.tool_call_id for m in recent if m.role == "tool"}

    def _carry_on(self, cancel: threading.Event, follow_up: str) -> Events[None]:
        """The turn after a decision sent again: the model goes on from the results it has (the
        client's follow-up, else a note to carry on, is its next message), as Letta answers it."""
        with self._turn_write():
            run = self.ws.store.start_run(self.agent.id, conversation_id=self.conversation_id)

        def nothing() -> Events[StopReason | None]:
            return None
            yield  # a generator that yields nothing

        return (yield from self._run(run, cancel, self._rules(), first=self._then_user(
            nothing, run, follow_up.strip() or KEEP_GOING)))

    def _decide(self, decisions: Mapping[str, CallDecision], cancel: threading.Event, follow_up: str) -> Events[None]:
        pending = self._pending(list(decisions))
        if pending is None:  # the same decision sent again
            return (yield from self._carry_on(cancel, follow_up))
        missing = [call.tool_call_id for call in pending if call.decision != HELD and call.tool_call_id not in decisions]
        if missing:  # (a client that only returns results is told of a missing tool_return)
            needed = "tool_return" if all(d.kind == "return" for d in decisions.values()) else "decision"
            raise InvalidInput(f"no {needed} for the waiting call {missing[0]}",
                               "answer every waiting call in one approval message")
        self.refresh_tools()
        state = self._rules()
        self._warm_for([call.name for call in pending
                        if call.decision == HELD or decisions[str(call.tool_call_id)].kind == "approve"])
        with self._turn_write():
            run = self.ws.store.start_run(self.agent.id, conversation_id=self.conversation_id)

        def decided(call: ToolCallRecord) -> tuple[str, str, ToolContext | None]:
            if call.decision == HELD:
                return self._invoke(call.name, dumps_raw(call.arguments), call.tool_call_id)
            decision = decisions[str(call.tool_call_id)]
            if decision.kind == "approve":
                return self._invoke(call.name, dumps_raw(call.arguments), call.tool_call_id)
            if decision.kind == "deny":
                return denial(decision.text), "denied", None
            return _cap(decision.text), "success" if decision.status == "success" else "error", None

        def settled(call: ToolCallRecord) -> Decision | None:
            if call.decision == HELD:
                return None
            decision = decisions[str(call.tool_call_id)]
            return Decision(decision.kind, decision.text if decision.kind == "deny" else None)

        return (yield from self._run(run, cancel, state, first=self._then_user(
            lambda: self._run_approved(pending, state, run, decided, settled), run, follow_up)))

    def _run_approved(self, pending: list[ToolCallRecord], state: RuleState, run: Run,
                      outcome: Callable[[ToolCallRecord], tuple[str, str, ToolContext | None]] | None = None,
                      settled: Callable[[ToolCallRecord], Decision | None] | None = None,
                      ) -> Events[StopReason | None]:
        """The waiting calls' results (run here, or as ``outcome`` gives them: the client's) are
        stored in one transaction, with the run ending there if a call ends the turn; returns the
        stop reason, or None to go on. Each call records how it was settled (``settled``; without
        it, approved; a held call, nothing), the first decided call naming the batch they were
        settled in together."""
        results = []
        batch = next((call.tool_call_id for call in pending if call.decision != HELD), None)
        for call in pending:
            state.record(call.name)
        if outcome is None:
            self._warm_for([call.name for call in pending])
        with self._turn_write():
            ends = False
            for call in pending:
                result, status, ctx = (outcome(call) if outcome is not None else
                                       self._invoke(call.name, dumps_raw(call.arguments), call.tool_call_id))
                state.returned(call.name, result)
                how = settled(call) if settled is not None else None if call.decision == HELD else Decision("approve")
                stored = self.ws.store.resolve_tool_call(call.id, status=status, result=result, duration_ms=None,
                                                         message=self._message("tool", result, name=call.name,
                                                                            tool_call_id=call.tool_call_id,
                                                                            run_id=run.id),
                                                         decision=replace(how, batch=batch) if how else None)
                if ctx is not None:
                    self.ws.store.record_canary_calls(ctx.canary_calls)
                results.append((call, result, status, ctx, stored.id))
                ends = ends or (status == "success" and state.ends_turn(call.name, call.name in TERMINAL_TOOLS))
            if ends:
                self._finish(run.id, "end_turn")
        for call, result, status, ctx, message_id in results:
            yield from self._tool_events(call.tool_call_id, call.name, result, status, ctx, message_id)
        return "end_turn" if ends else None

    def _deny(self, reason: str, cancel: threading.Event, call_ids: Sequence[str] = (),
              follow_up: str = "") -> Events[None]:
        pending = self._pending(call_ids)
        if pending is None:  # the same decision sent again
            return (yield from self._carry_on(cancel, follow_up))
        result = denial(reason)
        state = self._rules()
        with self._turn_write():
            run = self.ws.store.start_run(self.agent.id, conversation_id=self.conversation_id)

        def denied(call: ToolCallRecord) -> tuple[str, str, ToolContext | None]:
            # The calls held with the denied ones need no decision: they run, as after an approval.
            if call.decision == HELD:
                return self._invoke(call.name, dumps_raw(call.arguments), call.tool_call_id)
            return result, "denied", None

        def settled(call: ToolCallRecord) -> Decision | None:
            return None if call.decision == HELD else Decision("deny", reason)

        yield from self._run(run, cancel, state, first=self._then_user(
            lambda: self._run_approved(pending, state, run, denied, settled), run, follow_up))

    def _pending(self, call_ids: Sequence[str] = ()) -> list[ToolCallRecord] | None:
        """The calls a decision settles, in the model's order: those waiting for it (``call_ids``,
        when a client names them, must be those) and those held with them (they need no decision);
        None when nothing waits and the decision is one already applied, sent again
        (``_settled_already``)."""
        unsettled = self.ws.store.unsettled_tool_calls(self.agent.id, self.conversation_id)
        pending = [call for call in unsettled if call.decision != HELD]
        # Letta's words in both errors: clients match on them.
        if not pending:
            if self._settled_already(call_ids):
                return None
            raise InvalidInput(f"No tool call is currently awaiting approval (agent '{self.agent.name}')")
        unknown = sorted(set(call_ids) - {call.tool_call_id for call in pending if call.tool_call_id})
        if unknown:
            raise InvalidInput(f"Invalid tool call IDs: {', '.join(unknown)}",
                               f"the waiting call is {', '.join(str(c.tool_call_id) for c in pending)}")
        return unsettled

    def _refuse_if_pending(self) -> None:
        pending = self.ws.store.pending_tool_calls(self.agent.id, self.conversation_id)
        if pending:
            where = f" -c {self.conversation.name or self.conversation.id}" if self.conversation else ""
            # Letta's words first: its clients and tests match on them
            raise InvalidInput("Please approve or deny the pending request before continuing "
                               f"(agent '{self.agent.name}' is waiting for approval of {pending[0].name})",
                               f"run `memos approve{where}` or `memos deny{where} --reason ...` first")

    # -- the loop ---------------------------------------------------------------------
    def _run(self, run: Run, cancel: threading.Event, state: RuleState,
             first: Callable[[], Events[StopReason | None]] | None = None) -> Events[None]:
        stop_watching = watch_for_cancel(self.ws.store, run.id, cancel)
        try:
            yield from self._run_steps(run, cancel, state, first)
        finally:
            stop_watching()
            self._run_id = None

    def _run_steps(self, run: Run, cancel: threading.Event, state: RuleState,
                   first: Callable[[], Events[StopReason | None]] | None = None) -> Events[None]:
        """Steps until a stop reason. The run is closed however the loop ends: a stop reason,
        a provider error, an exception, Ctrl-C, or the consumer walking away (GeneratorExit).
        Only a killed process leaves it open, and the next turn's recovery closes it."""
        self._finished = False
        reason: ev.StopReason = "max_steps"
        step = 0
        self._run_id = run.id
        yield ev.RunStarted(run.id)
        try:
            outcome = (yield from first()) if first is not None else None
            if outcome is not None:
                reason = outcome
            else:
                for step in range(1, self.max_steps + 1):
                    if cancel.is_set():
                        reason = "cancelled"
                        break
                    outcome = yield from self._step(run.id, step, state, cancel)
                    if outcome is not None:
                        reason = outcome
                        break
        except ProviderError as exc:
            self._close(run.id, "failed", "error")
            yield ev.Error(str(exc))
            yield ev.Stop("error", step, run.id)
            raise
        except BaseException as exc:
            # Left early: Ctrl-C, the consumer closed us (GeneratorExit), or an unexpected error.
            leaving = isinstance(exc, (GeneratorExit, KeyboardInterrupt))
            self._close(run.id, "cancelled" if leaving else "failed", "cancelled" if leaving else "error")
            raise
        if not self._finished:
            self._finish(run.id, reason)
        yield ev.Stop(reason, step, run.id)

    def _close(self, run_id: str, status: str, stop_reason: str) -> None:
        if not self._finished:
            try:
                with self._turn_write():
                    self.ws.store.finish_run(run_id, status, stop_reason)
            finally:
                self._finished = True

    def _step(self, run_id: str, number: int, state: RuleState,
              cancel: threading.Event) -> Events[StopReason | None]:
        self._step_started = time.perf_counter()
        step_id = ids.new_id("step")
        self._answer_id = ids.new_id("message")  # the model's answer is stored under it (shown under it live)
        yield ev.StepStarted(step_id, self._answer_id)
        available = list(self.specs)
        tools = self._tool_schemas(state)
        compiled = yield from self._context(tools=tools)
        self._system_read = str(compiled[0]["content"])
        completion = yield from self._call_with_room(compiled, tools, cancel)
        yield ev.Usage(number, completion.model, completion.prompt_tokens, completion.completion_tokens,
                       completion.cost_usd, completion.latency_ms, completion.cached_tokens)
        record = StepRecord(run_id, completion.model, completion.prompt_tokens, completion.completion_tokens,
                            completion.cost_usd, completion.latency_ms,
                            "cancelled" if completion.cancelled else completion.finish_reason,
                            cached_tokens=completion.cached_tokens, id=step_id)
        if completion.reasoning:
            yield ev.Reasoning(completion.reasoning)
        cut = completion.finish_reason == "length" and not completion.cancelled
        if cut:
            yield ev.Warning(self._cut_off_note(completion))

        if completion.cancelled or not completion.tool_calls:
            text = completion.content
            if completion.cancelled and not text:  # stopped while writing its reply through send_message
                text = next((partial_string_field(c.arguments, "message") for c in completion.tool_calls
                             if c.name == REPLY_TOOL), "")
            messages = [self._message("assistant", text, id=self._answer_id)] if text else []
            reason: ev.StopReason = "cancelled" if completion.cancelled else "max_tokens_exceeded" if cut else "end_turn"
            with self._turn_write():  # the last step and the end of its run, together
                self._keep_system_read()
                _, stored = self.ws.store.record_step(self.agent.id, self._timed(record), messages, [])
                self._finish(run_id, reason)
            if text:
                yield ev.Assistant(text, stored[0].id if stored else None)
            return reason

        if completion.content:
            yield ev.Reasoning(completion.content)
        plan = yield from self._plan_calls(completion, state, available)
        return (yield from self._commit_step(run_id, record, completion, plan, state, cancel))

    def _plan_calls(self, completion: Completion, state: RuleState, available: list[str]) -> Events[list[_Planned]]:
        """Decide each call under the rules, in order, and run the custom tools now (in the sandbox,
        outside any transaction: they may take seconds). Built-ins run later, in the step's
        transaction, so their store writes and the step's record commit together."""
        plan: list[_Planned] = []
        # When a call of the step waits for a person, the step's other calls wait with it and run
        # after the decision, in the model's order (as Letta holds them): nothing of the step has
        # happened before the person decides.
        waits = any(state.needs_approval(c.name) or c.name in self.client_specs for c in completion.tool_calls)
        for call in completion.tool_calls:
            violation = state.violation(call.name, available)
            asks = violation is None and (state.needs_approval(call.name) or call.name in self.client_specs)
            yield ev.ToolCall(call.id, call.name, _parsed_or_raw(call.arguments))
            if asks:  # every call of the step that needs approval is asked at once, each decided on its own
                state.record(call.name)
                yield ev.ApprovalRequest(call.id, call.name, _parsed_or_raw(call.arguments))
                plan.append(_Planned(call, None, "pending"))
                continue
            if violation is not None:
                plan.append(_Planned(call, f"Error: {violation}", "error"))
                continue
            state.record(call.name)
            plan.append(_Planned(call, None, HELD) if waits else self._run_now(call, state))
        if waits and not any(item.status == "pending" for item in plan):
            # The call that would have waited broke a rule instead: nothing waits, the rest runs now.
            plan = [self._run_now(item.call, state) if item.status == HELD else item for item in plan]
        return plan

    def _run_now(self, call: Any, state: RuleState) -> _Planned:  # call: llm.ToolCallRequest
        """A call that needs no decision: a custom tool runs here, a built-in later, in the step's
        transaction (``deferred``)."""
        if call.name in self.builtins:
            return _Planned(call, None, "deferred")
        started = time.perf_counter()
        result, status, ctx = self._invoke(call.name, call.arguments, call.id)
        state.returned(call.name, result)
        return _Planned(call, result, status, ctx=ctx, duration_ms=(time.perf_counter() - started) * 1000)

    def _commit_step(self, run_id: str, record: StepRecord, completion: Completion, plan: list[_Planned],
                     state: RuleState, cancel: threading.Event) -> Events[StopReason | None]:
        store = self.ws.store
        self._warm_for([p.call.name for p in plan if p.status == "deferred"])
        assistant = self._message("assistant", completion.content, id=self._answer_id, tool_calls=[
            {"id": c.id, "name": storable(c.name), "arguments": storable(c.arguments)} for c in completion.tool_calls])
        stop: ev.StopReason | None = None
        with self._turn_write():
            messages: list[NewMessage] = [assistant]
            records: list[ToolCallRecord] = []
            for item in plan:
                call = item.call
                if item.status == "deferred":
                    started = time.perf_counter()
                    item.result, item.status, item.ctx = self._invoke(call.name, call.arguments, call.id)
                    item.duration_ms = (time.perf_counter() - started) * 1000
                    state.returned(call.name, item.result)
                if item.status in ("pending", HELD):
                    records.append(ToolCallRecord(ids.new_id("toolcall"), self.agent.id, call.id, call.name,
                                                  storable(call.arguments), None, "pending", None,
                                                  decision=HELD if item.status == HELD else None))
                    stop = "requires_approval"
                    continue
                result = item.result or ""
                item.message_id = ids.new_id("message")
                messages.append(self._message("tool", result, name=call.name, tool_call_id=call.id,
                                              id=item.message_id))
                spec = self.specs.get(call.name)
                records.append(ToolCallRecord(ids.new_id("toolcall"), self.agent.id, call.id, call.name,
                                              storable(call.arguments), result, item.status, item.duration_ms,
                                              tool_commit=(item.ctx and item.ctx.served_commit)
                                              or (spec.commit if spec else None)))
                if item.status == "success" and stop is None \
                        and state.ends_turn(call.name, call.name in TERMINAL_TOOLS):
                    stop = None if state.missing_before_exit() else "end_turn"
            if stop is None and cancel.is_set():
                stop = "cancelled"
            self._keep_system_read()
            store.record_step(self.agent.id, self._timed(record), messages, records)
            # Canaried calls, with the step: the monitor never counts a call the step lost.
            store.record_canary_calls([c for item in plan if item.ctx for c in item.ctx.canary_calls])
            if stop is not None:
                self._finish(run_id, stop)
        # Shown once durable: what the user reads is what a later turn will find.
        for item in plan:
            if item.status not in ("pending", HELD) and item.result is not None:
                yield from self._tool_events(item.call.id, item.call.name, item.result, item.status, item.ctx,
                                             item.message_id, self._answer_id)
        return stop

    def _keep_system_read(self) -> None:
        """Keep the system message this step sent as the one the log lists, in the step's write
        (a turn with a request's own system prompt or skills keeps nothing: those are not stored)."""
        if self.system_override is not None or self.skills_block:
            return
        if self._system_read is not None:
            self.ws.store.keep_system_message(self.agent.id, self.conversation_id, self._system_read)

    def _timed(self, record: StepRecord) -> StepRecord:
        """The step's record with its whole time so far: context, LLM call, tools."""
        return replace(record, duration_ms=(time.perf_counter() - self._step_started) * 1000)

    def _record_summary_call(self, completion: Completion) -> Events[None]:
        """A summary's LLM call counts like any other: a step of the turn's run (or of a run of
        its own, for a compact between turns), so `memos usage` and `memos runs` see its tokens."""
        own_run = self._run_id is None
        run_id = self.ws.store.start_run(self.agent.id, conversation_id=self.conversation_id).id if own_run \
            else self._run_id
        assert run_id is not None
        with self._turn_write():
            self.ws.store.record_step(self.agent.id, StepRecord(
                run_id, completion.model, completion.prompt_tokens, completion.completion_tokens, completion.cost_usd,
                completion.latency_ms, "summary", cached_tokens=completion.cached_tokens,
                duration_ms=completion.latency_ms), [], [])
            if own_run:
                self.ws.store.finish_run(run_id, "completed", "end_turn")
        yield ev.Usage(0, completion.model, completion.prompt_tokens, completion.completion_tokens,
                       completion.cost_usd, completion.latency_ms, completion.cached_tokens)

    def _cut_off_note(self, completion: Completion) -> str:
        limit = f"max_tokens {self.agent.max_tokens}" if self.agent.max_tokens else "the server's own output limit"
        broken = [c.name for c in completion.tool_calls if sendable_arguments(c.arguments) != c.arguments]
        what = (f"in the middle of a call to {', '.join(broken)} (the call fails with an error the model reads; "
                "its unfinished arguments are kept for display only)" if broken else "before it finished")
        return (f"the model's reply was cut off at its token limit ({limit}) {what}; "
                "raise it with `memos agents update --max-tokens N`")

    def _finish(self, run_id: str, reason: ev.StopReason) -> None:
        with self._turn_write():
            self.ws.store.finish_run(run_id, "cancelled" if reason == "cancelled" else "completed", reason)
        self._finished = True

    def _warm_for(self, names: list[str]) -> None:
        """Load the embedding model before a transaction that needs it: loading takes seconds, and
        other processes wait for the database while a transaction is open."""
        from memos.store.remote_embedders import LOCAL_ALIASES

        # Only the bundled model has anything to load; a remote one would cost a call for nothing
        if EMBEDDING_TOOLS.intersection(names) and self.agent.embedding_model in LOCAL_ALIASES:
            from memos.store.embeddings import get_embedder

            get_embedder(self.agent.embedding_model).embed(["warm"])

    def _invoke(self, name: str, raw_arguments: str, call_id: str | None = None) -> tuple[str, str, ToolContext]:
        """Run one tool; returns (result text, status, its context). Never raises for a tool's failure."""
        ctx = ToolContext(self.ws.store, self.agent, seen=self.seen, call_id=call_id, converse=self._turn_of)
        spec = self.specs.get(name)
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
            return _cap("None" if value is None else str(value), spec.return_char_limit), "success", ctx
        except ToolCodeFailed as exc:  # the tool's own code raised: Letta's words
            return _cap(f"Error executing function {name}: {exc}"), "error", ctx
        except MemosError as exc:
            return _cap(f"Error: {exc}"), "error", ctx
        except Exception as exc:  # a tool bug must not crash the loop
            return _cap(f"Error executing function {name}: {type(exc).__name__}: {exc}"), "error", ctx

    def _turn_of(self, other: Agent, note: str) -> list[str]:
        """A whole turn of another agent on a system message (Letta's multi-agent tools); its replies.
        It waits OTHER_TURN_WAIT seconds at most for that agent to be free."""
        with runner_with_tools(self.ws, other, turn_wait=OTHER_TURN_WAIT) as runner:
            return [event.text for event in runner.send("", system_notes=[note]) if event.type == "assistant"]

    @staticmethod
    def _tool_events(call_id: str, name: str, result: str, status: str, ctx: ToolContext | None,
                     message_id: str | None = None, answer_id: str | None = None) -> Iterator[ev.Event]:
        """What a call did, once stored: ``message_id`` is its result's stored message, and
        ``answer_id`` the model's answer that made the call (send_message's text is listed under it)."""
        for edit in ctx.edits if ctx else []:
            yield ev.MemoryEdit(edit.after.label, edit.before.value, edit.after.value, edit.after.version)
        for text in ctx.sent_messages if ctx else []:
            yield ev.Assistant(text, answer_id)
        yield ev.ToolReturn(call_id, name, "success" if status == "success" else "error", result, message_id)

    # -- LLM and context ------------------------------------------------------------------
    def _call_with_room(self, compiled: list[dict[str, Any]], tools: list[dict[str, Any]],
                        cancel: threading.Event) -> Events[Completion]:
        """Call the LLM; if the provider says the prompt is too long for it (its window may be
        smaller than the agent's setting), make room by evicting older messages and try once more."""
        window: int | None = None
        for attempt in range(1, ROOM_ATTEMPTS + 1):
            try:
                return (yield from self._call_llm(compiled, tools, cancel))
            except ContextTooLong as exc:
                if attempt == ROOM_ATTEMPTS:
                    raise
                # The server's own window, when it says it, is what the retry must fit: memos counts
                # tokens with its own tokenizer, which can undercount another model's by a quarter.
                window = min(w for w in (exc.window, window, self.agent.context_window) if w)
                note = (f"; the agent's context_window ({self.agent.context_window:,}) is larger than the "
                        f"server's ({window:,}): `memos agents update --context-window {window}`"
                        if window < self.agent.context_window else "")
                yield ev.Warning(f"{exc.message}; making room by summarising older messages{note}")
                compiled = yield from self._context(force=True, tools=tools, window=window)
        raise AssertionError("unreachable")

    def _call_llm(self, compiled: list[dict[str, Any]], tools: list[dict[str, Any]],
                  cancel: threading.Event) -> Events[Completion]:
        """Stream the completion from a worker thread so deltas reach the front end as they come."""
        updates: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                result = self.llm.complete(self.model, compiled, tools or None,
                                           on_text=lambda t: updates.put(("delta", t)), cancel=cancel,
                                           on_tool=lambda *piece: updates.put(("tool", piece)),
                                           max_tokens=self.agent.max_tokens,
                                           response_format=self.agent.response_format,
                                           on_reasoning=lambda t: updates.put(("reasoning", t)))
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
            elif kind == "reasoning":
                yield ev.ReasoningDelta(value)
            elif kind == "tool":
                yield ev.ToolCallDelta(*value)
            elif kind == "error":
                raise value
            else:
                completion: Completion = value
                if cancel.is_set():
                    completion.cancelled = True
                return completion

    def _context(self, force: bool = False, tools: list[dict[str, Any]] | None = None,
                 window: int | None = None, everything: bool = False) -> Events[list[dict[str, Any]]]:
        """The prompt's messages; summarises the oldest part first when the whole request (system
        prompt, memory, messages and the ``tools`` schemas it carries) passes the threshold,
        more messages are in context than are fetched, or ``force`` (the provider refused the
        prompt as too long). Every request stays within the window, and the turn goes on even
        when summarising fails."""
        store = self.ws.store
        compiled = compile_context(store, self.agent, self.conversation_id)
        self.seen.clear()
        self.seen.update(compiled.versions)
        window = window or self.agent.context_window  # (a server's stated window is never larger: _call_with_room)
        over = not fits_within(self.threshold * window, self.model, compiled.messages, tools or None)
        if not (force or compiled.older or over) or len(compiled.history) < (1 if everything else 2):
            return compiled.messages
        cut = len(compiled.history) if everything else self._eviction_cut(compiled, tools, window, force)
        if cut == 0 and not compiled.older:
            yield ev.Warning("the context is nearly full but no older messages can be summarised yet")
            return compiled.messages
        evicted = self._older_in_context(compiled) + compiled.history[:cut]
        previous = compiled.summary.content if compiled.summary else None
        text = yield from self._summarise(previous, evicted, window)
        with self._turn_write():
            store.append_messages(self.agent.id, [replace(new_summary_message(text), conversation_id=self.conversation_id)])
            stale = [m.id for m in evicted] + ([compiled.summary.id] if compiled.summary else [])
            store.set_in_context(self.agent.id, stale, False)
        yield ev.Summary(len(evicted), text)
        compiled = compile_context(store, self.agent, self.conversation_id)
        self.seen.update(compiled.versions)
        return compiled.messages

    def _eviction_cut(self, compiled: Compiled, tools: list[dict[str, Any]] | None, window: int,
                      force: bool) -> int:
        """How many of the oldest history messages to summarise so that the rest fits half the window."""
        limit = message_view_limit(window)
        counts = [count_tokens(self.model, [to_openai(m, limit)]) for m in compiled.history]
        # What every request carries whatever is evicted: the system message and the tool schemas.
        system_tokens = count_tokens(self.model, compiled.messages[:1], tools or None)
        budget = max(0, int(window * 0.5) - system_tokens)
        if force:  # the provider's window is smaller than we counted: at least halve the history
            budget = min(budget, sum(counts) // 2)
        return eviction_split(compiled.history, counts, budget,
                              keep_at_most=KEEP_AFTER_COUNT_CAP if compiled.older else None,
                              within_turn=force or compiled.older)

    def _older_in_context(self, compiled: Compiled) -> list[Message]:
        """In-context messages older than the ones compile_context fetched (only past the count cap)."""
        if not compiled.older or not compiled.history:
            return []
        out: list[Message] = []
        cursor = compiled.history[0].id
        while True:  # newest first: with order="desc", `after` pages on to older messages
            page = self.ws.store.list_messages(self.agent.id, after=cursor, limit=1_000, order="desc",
                                               in_context=True, conversation=self.conversation_id)
            out.extend(m for m in page if not is_summary(m))
            if len(page) < 1_000:
                break
            cursor = page[-1].id
        out.reverse()
        return out

    def _summarise(self, previous: str | None, evicted: list[Message], window: int | None = None) -> Events[str]:
        """Fold ``evicted`` into the running summary, one request per piece that fits the window.
        If a request fails, the messages still leave the context (they stay searchable) and the
        summary says so: a failing summary must never block the next turn."""
        summary = previous
        for chunk in summary_chunks(evicted, window or self.agent.context_window):
            try:
                completion = self.llm.complete(self.model, summary_request(summary, chunk, SUMMARY_WORDS),
                                               stream=False)
                yield from self._record_summary_call(completion)
            except ProviderError as exc:
                yield ev.Warning(f"summarising older messages failed ({exc.message}); they leave the context "
                                 "unsummarised and stay searchable")
                return unsummarised_note(previous, len(evicted), "summarising failed")
            text = completion.content.strip()
            if not text or count_tokens(self.model, [{"role": "system", "content": text}]) \
                    > self.agent.context_window * 0.25:
                yield ev.Warning("the summary was empty or too long; older messages leave the context "
                                 "unsummarised and stay searchable")
                return unsummarised_note(previous, len(evicted), "the summary came back empty or too long")
            summary = text
        return summary or unsummarised_note(previous, len(evicted), "nothing to summarise")


@contextmanager
def runner_with_tools(ws: Workspace, agent: Agent, **options: Any) -> Iterator[AgentRunner]:
    """A runner with the agent's own tools loaded (its repo's and its MCP servers'), closed when
    done: a shadowed canary call still comparing is waited for, the sandbox workers stop."""
    from memos.tools.custom import custom_tools_for

    tools, _warnings = custom_tools_for(ws, agent)
    try:
        yield AgentRunner(ws, agent, custom_tools=tools, **options)
    finally:
        if tools is not None:
            tools.close()


@dataclass
class _Planned:
    """One tool call of a step, from its rule check to its result."""

    call: Any  # llm.ToolCallRequest
    result: str | None
    # success | error | pending | deferred (a built-in, run in the step's transaction) | held
    status: str
    ctx: ToolContext | None = None
    duration_ms: float | None = 0.0
    message_id: str | None = None  # its result's stored message


def retry_of(store: Store, agent_id: str, otid: str) -> tuple[Literal["new", "redo", "taken"], Message | None, Run | None]:
    """What a message sent with this otid is: ``new``; a retry to ``redo`` (its turn was cut
    short: this turn answers it in its place); or ``taken`` by a run that answers or answered it
    (running or ended), with the stored message and that run."""
    stored = store.message_by_otid(agent_id, otid)
    if stored is None or stored.run_id is None:
        return "new", None, None
    run = store.get_run(stored.run_id)
    if run.status in ("interrupted", "failed"):
        return "redo", stored, run
    if run.stop_reason == "requires_approval":
        # Its turn handed over to a person, who has decided since (a pending approval is refused
        # before this): the exchange it began is over, and the same otid again is a new message,
        # as Letta's clients send it (one otid for a whole approval flow).
        return "new", None, None
    return "taken", stored, run


def dumps_raw(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _parsed_or_raw(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except (json.JSONDecodeError, TypeError):
        return arguments
