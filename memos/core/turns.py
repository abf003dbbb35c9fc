"""One turn of an agent at a time, and recovery of what a killed turn left.

Every front end runs turns through `AgentRunner`, which holds the agent's turn
lock (store/turnlock.py) from before it reads the conversation until its run is
closed. Holding that lock also means no live process is in a turn of the agent,
so whatever a turn left `running` was left by a process that died: the next
holder marks it interrupted and makes the log well-formed again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from memos.core import events as ev
from memos.errors import AgentBusy
from memos.store.base import Agent, ConversationScope, NewMessage, Store
from memos.store.turnlock import TurnLock

NOTICE_AFTER = 1.0  # seconds of waiting before the front end is told (a Waiting event)
POLL_MAX = 0.02  # seconds between tries at most: a turn takes milliseconds, the lock must not sit idle
RECENT = 50  # messages read from the end of the log to find calls a killed turn left unanswered
CANCEL_POLL = 0.5  # seconds between a running turn's looks at its run row for a cancel request
STOP_WAIT = 5.0  # seconds stopping the watch waits for a store read it has under way


def wait_for_turn(lock: TurnLock, agent: Agent, wait: float | None) -> Iterator[ev.Event]:
    """Take ``lock``, waiting up to ``wait`` seconds (None: as long as it takes, 0: not at all).

    Yields one `Waiting` event once the wait passes NOTICE_AFTER; raises `AgentBusy` when
    the time is up."""
    started = time.monotonic()
    delay = 0.002
    told = False
    try:
        while not lock.try_acquire():
            waited = time.monotonic() - started
            if wait is not None and waited >= wait:
                holder = lock.holder()
                raise AgentBusy(f"agent '{agent.name}' is busy with another turn"
                                + (f" ({holder})" if holder else ""),
                                "retry when it has finished, or wait for it (without --no-wait)")
            if not told and waited >= NOTICE_AFTER:
                told = True
                yield ev.Waiting(agent.name, lock.holder())
            time.sleep(delay if wait is None else min(delay, max(0.0, wait - waited)))
            delay = min(delay * 1.5, POLL_MAX)
    except BaseException:
        lock.release()  # leave the line of waiters too
        raise


def recover(store: Store, agent: Agent, conversation: ConversationScope = None) -> list[str]:
    """Close what a killed process left of the agent's turns; returns the interrupted runs' ids.

    Runs still `running` become `interrupted`. A step is one transaction, so a killed
    step left nothing half-written; calls that no result answers at the end of the log
    (from older versions, or an imported log) get an error result the agent sees."""
    interrupted = store.interrupt_running_runs(agent.id, conversation=conversation)
    # Each conversation a killed turn was in (None: the agent's own).
    for conversation in dict.fromkeys(store.get_run(run_id).conversation_id for run_id in interrupted):
        _answer_dangling_calls(store, agent, conversation)
    return interrupted


def _answer_dangling_calls(store: Store, agent: Agent, conversation: str | None) -> None:
    recent = store.list_messages(agent.id, limit=RECENT, order="desc", in_context=True, conversation=conversation)
    answered: set[str] = set()
    for message in recent:  # newest first: the tool results, then the call they answer
        if message.role == "tool" and message.tool_call_id:
            answered.add(message.tool_call_id)
            continue
        if message.role == "assistant" and message.tool_calls:
            pending = {c.tool_call_id for c in store.pending_tool_calls(agent.id, conversation)}
            missing = [c for c in message.tool_calls if c["id"] not in answered and c["id"] not in pending]
            if missing:
                store.append_messages(agent.id, [NewMessage(
                    "tool", "Error: this tool call was interrupted (the process running it stopped) and has no "
                    "result.", name=c["name"], tool_call_id=c["id"], conversation_id=conversation)
                    for c in missing])
        return  # only the newest assistant message can still be followed by its results


def reset_context(store: Store, agent: Agent, wait: float | None, conversation: str | None = None) -> int:
    """Start the agent's conversation afresh (Letta's reset-messages): every message leaves its
    context, between turns (the turn lock is held), and stays stored and searchable with
    conversation_search. Returns how many messages left the context."""
    lock = store.turn_lock(agent.id, conversation)
    for _ in wait_for_turn(lock, agent, wait):
        pass
    try:
        return store.clear_context(agent.id, conversation)
    finally:
        lock.release()


def watch_for_cancel(store: Store, run_id: str, cancel: threading.Event) -> Callable[[], None]:
    """Set ``cancel`` when someone asks this run to stop through the store (a cancel sent to any
    replica, or from another process), looking every CANCEL_POLL seconds while the turn runs.
    Returns the function that stops watching. A turn that ends sooner never reads the store."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(CANCEL_POLL) and not cancel.is_set():
            try:
                if store.cancel_requested(run_id):
                    cancel.set()
            except Exception:  # noqa: BLE001 - a store hiccup: look again next time
                continue

    watcher = threading.Thread(target=watch, name="memos-cancel-watch", daemon=True)
    watcher.start()

    def stop() -> None:
        done.set()
        # Wait out a store read under way: a process that exits while another thread is inside
        # DuckDB can be aborted by DuckDB's runtime ("terminate called without an active
        # exception", duckdb issue 13904), as `memos send` once was after printing its answer.
        watcher.join(timeout=STOP_WAIT)

    return stop
