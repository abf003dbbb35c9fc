"""Agent turns started over HTTP: one at a time per agent, cancellable from another request.

The loop itself is core's `AgentRunner`, which holds the agent's turn lock (shared with
the CLI and other servers on the same store): a request for a busy agent waits up to
TURN_WAIT seconds, then gets 409 with a retryable detail. This keeps the cancel flags
of the turns running now.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from memos.core.decisions import CallDecision
from memos.core.limits import DEFAULT_MAX_STEPS
from memos.core.workspace import Workspace
from memos.errors import InvalidInput
from memos.server.streams import RunStreams
from memos.store.base import ALL_CONVERSATIONS, Agent, ConversationScope

TurnKind = Literal["send", "approve", "deny", "decide"]
TURN_WAIT = 30.0  # seconds a request waits for a busy agent before 409


@dataclass(frozen=True)
class TurnRequest:
    kind: TurnKind
    text: str = ""  # the user's message, or the reason of a denial
    max_steps: int = DEFAULT_MAX_STEPS
    model: str | None = None
    system: tuple[str, ...] = ()  # role "system" messages of the request, logged before the user's
    call_ids: tuple[str, ...] = ()  # an approval's tool call ids, when the client names them
    client_tools: tuple[dict[str, Any], ...] = ()  # tools the client runs, offered for this turn
    decisions: tuple[tuple[str, CallDecision], ...] = ()  # decide: each waiting call's own decision
    conversation: str | None = None  # one of the agent's conversations (None: its own)
    otid: str | None = None  # the client's id for its user message: a retry is answered once
    system_prompt: str | None = None  # Letta's override_system: this turn's system prompt in place of the agent's
    follow_up: str = ""  # user text sent with an approval decision: read after the calls' results
    client_skills: tuple[dict[str, Any], ...] = ()  # skills the client has, named in this turn's prompt only
    wait: float = TURN_WAIT  # seconds to wait for a busy conversation before 409 (0: answer 409 at once)


class Turns:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._guard = threading.Lock()
        self._running: dict[tuple[str, str | None], set[threading.Event]] = {}
        self._by_run: dict[str, threading.Event] = {}  # the cancel flag of each run this server runs
        self.streams = RunStreams(ws.store)  # background streamed turns, resumable (server/streams.py)

    @contextmanager
    def _registered(self, agent_id: str, conversation: str | None, cancel: threading.Event) -> Iterator[None]:
        with self._guard:
            self._running.setdefault((agent_id, conversation), set()).add(cancel)
        try:
            yield
        finally:
            with self._guard:
                self._running.get((agent_id, conversation), set()).discard(cancel)
                for run_id in [r for r, flag in self._by_run.items() if flag is cancel]:
                    del self._by_run[run_id]

    def cancel(self, agent_id: str, conversation: ConversationScope = ALL_CONVERSATIONS,
               run_ids: tuple[str, ...] | None = None) -> int:
        """Ask the agent's running turns (in one conversation, or in all) to stop at their next
        safe point, whichever process or replica runs them; how many there were. This server's
        own turns are told at once, the others within a second (core/turns.py watch_for_cancel)."""
        if run_ids is not None:  # only these runs: the store tells their processes (this one too)
            with self._guard:
                flags = [self._by_run[run_id] for run_id in run_ids if run_id in self._by_run]
            for flag in flags:
                flag.set()
            return len(self.ws.store.request_cancel(agent_id, conversation, run_ids))
        with self._guard:
            flags = [flag for (agent, where), running in self._running.items() for flag in running
                     if agent == agent_id and conversation in (ALL_CONVERSATIONS, where)]
        for flag in flags:
            flag.set()
        return max(len(flags), len(self.ws.store.request_cancel(agent_id, conversation)))

    def start_background(self, agent: Agent, request: TurnRequest) -> str:
        """Run the turn on a thread of its own (Letta's messages/async); returns its run's id once
        the run exists. The client follows it through /v1/runs; /cancel stops it like any turn."""
        started: queue.Queue[tuple[str, Any]] = queue.Queue()

        def work() -> None:
            try:
                for event in self.run(agent, request, threading.Event()):
                    if event.type == "run_started":
                        started.put(("run", event.run_id))
            except BaseException as exc:  # noqa: BLE001 - handed to the request while it waits
                started.put(("error", exc))
            finally:
                started.put(("done", None))

        threading.Thread(target=work, name="memos-background-turn", daemon=True).start()
        kind, value = started.get(timeout=TURN_WAIT + 30)
        if kind == "error":
            raise value
        if kind == "done":
            raise InvalidInput("the turn ended before it started")
        return str(value)

    def run(self, agent: Agent, request: TurnRequest, cancel: threading.Event) -> Iterator[Any]:
        """The turn's events. Closing the iterator early (a client gone) cancels the turn and
        lets it finish persisting what it produced."""
        from memos.core.agent import runner_with_tools

        conversation = self.ws.store.get_conversation(request.conversation) if request.conversation else None
        with self._registered(agent.id, request.conversation, cancel), runner_with_tools(
                self.ws, agent, model=request.model, max_steps=request.max_steps, turn_wait=request.wait,
                client_tools=request.client_tools, conversation=conversation,
                system_prompt=request.system_prompt, client_skills=request.client_skills) as runner:
            if request.kind == "send":
                events = runner.send(request.text, cancel, request.system, request.otid)
            elif request.kind == "approve":
                events = runner.approve(cancel, request.call_ids, request.follow_up)
            elif request.kind == "decide":
                events = runner.decide(dict(request.decisions), cancel, request.follow_up)
            else:
                events = runner.deny(request.text, cancel, request.call_ids, request.follow_up)
            try:
                for event in events:
                    if event.type == "run_started":
                        with self._guard:
                            self._by_run[event.run_id] = cancel
                    yield event
                if request.conversation is None:
                    yield from self._reviews(agent)
            except GeneratorExit:
                cancel.set()
                try:
                    for _ in events:  # drain: the loop stops at its next safe point and persists
                        pass
                except Exception:
                    pass  # a provider error after the client left: the run is already marked failed
                raise

    def _reviews(self, agent: Agent) -> Iterator[Any]:
        """Count the turn for the agent's sleep-time agent; start its review in the background when
        due, and name the review's run (Letta lists it in the turn's usage.run_ids)."""
        from memos.core.events import RunStarted
        from memos.core.sleeptime import due_reviews

        for helper, text in due_reviews(self.ws.store, agent):
            yield RunStarted(self.start_background(helper, TurnRequest("send", text)))

    def compact(self, agent: Agent, conversation: str | None, everything: bool = False) -> tuple[int, int, str | None]:
        """Summarise the older part of a conversation's context now (``everything``: all of it);
        (in-context messages before, after, the summary), the summary None when there was too
        little to summarise."""
        from memos.core.agent import AgentRunner

        where = self.ws.store.get_conversation(conversation) if conversation else None
        before = len(self.ws.store.list_messages(agent.id, limit=100_000, in_context=True, conversation=conversation))
        runner = AgentRunner(self.ws, agent, turn_wait=TURN_WAIT, conversation=where)
        summaries = [e.text for e in runner.compact(everything) if e.type == "summary"]  # to the end: the lock is let go
        summary = summaries[-1] if summaries else None
        after = len(self.ws.store.list_messages(agent.id, limit=100_000, in_context=True, conversation=conversation))
        return before, after, summary
