"""Conversation: the message log (tool calls and memory edits included), search, and a chat
input whose replies stream from the loop's events; approvals inline; Escape cancels."""

from __future__ import annotations

import threading
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, RichLog, Static

from memos.errors import MemosError
from memos.tools.reply import REPLY_TOOL
from memos.tui.widgets.base import memos_app

HISTORY = 200


class ConversationPane(Vertical):
    BINDINGS = [Binding("escape", "cancel", "Cancel reply"), Binding("ctrl+c", "cancel", "Cancel reply", show=False),
                Binding("ctrl+f", "search", "Search messages")]

    def compose(self) -> ComposeResult:
        yield Static("", id="conversation-status", classes="status", markup=False)
        yield RichLog(id="conversation-log", wrap=True, markup=False, highlight=False)
        yield Static("", id="conversation-live", markup=False)
        with Horizontal(id="approval-bar", classes="buttons"):
            yield Button("Approve", id="approve", variant="success")
            yield Button("Deny", id="deny", variant="error")
        yield Input(placeholder="message the agent (Enter) · /search words · /since 7d", id="chat-input")

    def on_mount(self) -> None:
        self.cancel_flag: threading.Event | None = None
        self.query_one("#approval-bar").display = False
        self.refresh_log()

    def refresh_log(self, query: str | None = None, since: str | None = None) -> None:
        app = memos_app(self)
        if app.agent_id is None or self.cancel_flag is not None:
            return  # a reply is streaming: its own events are on screen
        store = app.ws.store
        if query or since:
            from memos.core.timeparse import parse_when

            try:
                start = parse_when(since) if since else None
            except MemosError as exc:
                self.app.notify(str(exc), severity="error")
                return
            messages = store.search_messages(app.agent_id, query, start=start, limit=HISTORY)[::-1]
            status = f"{len(messages)} message(s)" + (f" matching '{query}'" if query else "") + \
                (f" since {start:%Y-%m-%d %H:%M}" if start else "")
        else:
            messages = store.list_messages(app.agent_id, limit=HISTORY, order="desc")[::-1]
            status = f"last {len(messages)} messages · Enter sends · Esc cancels a reply · /search words"
        log = self.query_one(RichLog)
        log.clear()
        for m in messages:
            for line in _lines(m):
                log.write(line)
        self.query_one("#conversation-status", Static).update(status)
        self.query_one("#approval-bar").display = bool(store.pending_tool_calls(app.agent_id))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        event.input.value = ""
        if not text:
            return
        if text.startswith("/search"):
            self.refresh_log(text.removeprefix("/search").strip() or None)
            return
        if text.startswith("/since"):
            self.refresh_log(since=text.removeprefix("/since").strip() or None)
            return
        self.query_one(RichLog).write(f"you: {text}")
        self._start(lambda runner, cancel: runner.send(text, cancel))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "approve":
            self._start(lambda runner, cancel: runner.approve(cancel))
        elif event.button.id == "deny":
            self._start(lambda runner, cancel: runner.deny("denied in the TUI", cancel))

    def _start(self, begin: Any) -> None:
        if self.cancel_flag is not None:
            self.app.notify("a reply is still streaming (Esc cancels it)", severity="warning")
            return
        self.cancel_flag = threading.Event()
        self.query_one("#approval-bar").display = False
        self.run_worker(lambda: self._turn(begin, self.cancel_flag), thread=True, group="chat")

    def _turn(self, begin: Any, cancel: threading.Event) -> None:
        from memos.core.agent import AgentRunner
        from memos.core.reply_stream import with_reply_text
        from memos.tools.custom import custom_tools_for

        app = memos_app(self)
        ws = app.ws
        live = ""
        try:
            agent = app.agent
            tools, _ = custom_tools_for(ws, agent)
            runner = AgentRunner(ws, agent, custom_tools=tools)
            for event in with_reply_text(begin(runner, cancel)):  # send_message replies stream too
                if event.type == "assistant_delta":
                    live += event.text
                    app.call_from_thread(self.query_one("#conversation-live", Static).update, live)
                    continue
                for line in _event_lines(event):
                    app.call_from_thread(self.query_one(RichLog).write, line)
                if event.type in ("assistant", "stop_reason"):
                    live = ""
                    app.call_from_thread(self.query_one("#conversation-live", Static).update, "")
            if tools is not None:
                tools.close()
            from memos.core.reviews import start_reviews

            start_reviews(runner)  # a sleep-time agent's review, when one is due
        except MemosError as exc:
            app.call_from_thread(app.notify, str(exc), severity="error")
        finally:
            app.call_from_thread(self._finished)

    def _finished(self) -> None:
        self.cancel_flag = None
        self.refresh_log()

    def action_cancel(self) -> None:
        if self.cancel_flag is not None:
            self.cancel_flag.set()
            self.app.notify("cancelling: the partial reply is kept")

    def action_search(self) -> None:
        box = self.query_one("#chat-input", Input)
        box.value = "/search "
        box.focus()


def _lines(m: Any) -> list[str]:
    if m.role == "user":
        return [f"you: {m.content}"]
    if m.role == "assistant":
        out = [f"agent (thinking): {m.content}"] if m.content and m.tool_calls else ([f"agent: {m.content}"] if m.content else [])
        for call in m.tool_calls or []:
            if call["name"] == REPLY_TOOL:
                import json

                try:
                    out.append(f"agent: {json.loads(call['arguments']).get('message', '')}")
                except (ValueError, AttributeError):
                    out.append(f"agent: {call['arguments']}")
            else:
                out.append(f"  → {call['name']}({call['arguments']})")
        return out
    if m.role == "tool" and m.name != REPLY_TOOL:
        return [f"  ← {m.name}: {m.content[:300]}"]
    if m.role == "system":
        return [f"[summary] {m.content[:300]}"]
    return []


def _event_lines(event: Any) -> list[str]:
    kind = event.type
    if kind == "assistant":
        return [f"agent: {event.text}"]
    if kind == "reasoning":
        return [f"agent (thinking): {event.text}"]
    if kind == "tool_call" and event.name != REPLY_TOOL:
        return [f"  → {event.name}({event.arguments})"]
    if kind == "tool_return" and event.name != REPLY_TOOL:
        return [f"  ← {event.name}: {(event.result or '')[:300]}"]
    if kind == "memory_edit":
        return [f"  memory '{event.label}' is now version {event.version}"]
    if kind == "approval_request":
        return [f"  ? {event.name} needs your approval (Approve / Deny below)"]
    if kind in ("error", "warning"):
        return [f"  ! {event.message}"]
    if kind == "stop_reason" and event.reason not in ("end_turn",):
        return [f"  (stopped: {event.reason})"]
    return []
