"""Memory inspector: every block with used / limit and a bar, read-only and shared markers;
edit with the limit enforced as you type; history with diffs; undo and rollback."""

from __future__ import annotations

import difflib

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, ListItem, ListView, ProgressBar, Static, TextArea

from memos.errors import MemosError
from memos.tui.widgets.base import memos_app


class BlockItem(ListItem):
    def __init__(self, label: str, used: int, limit: int, read_only: bool, shared: bool) -> None:
        super().__init__()
        self.label_text = label
        self.used, self.limit = used, limit
        self.flags = ("  read-only" if read_only else "") + ("  shared" if shared else "")

    def compose(self) -> ComposeResult:
        yield Label(f"{self.label_text}  {self.used:,} / {self.limit:,}{self.flags}")
        bar = ProgressBar(total=self.limit, show_eta=False, show_percentage=True)
        bar.progress = min(self.used, self.limit)
        yield bar


class MemoryPane(Horizontal):
    BINDINGS = [Binding("ctrl+s", "save", "Save block"), Binding("ctrl+z", "undo", "Undo last change"),
                Binding("ctrl+r", "rollback", "Roll back to a version"), Binding("ctrl+o", "history", "History")]

    def compose(self) -> ComposeResult:
        with Vertical(id="block-list-box"):
            yield ListView(id="block-list")
            yield Static("", id="context-panel", markup=False)
        with Vertical(id="block-editor-box"):
            yield Static("", id="block-title", classes="status", markup=False)
            yield TextArea(id="block-editor")
            yield Static("", id="block-count", classes="status", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Undo", id="undo")
                yield Button("History", id="history")
                yield Button("Rollback", id="rollback")
            yield Static("", id="block-history", markup=False)

    def on_mount(self) -> None:
        self.current: str | None = None
        self.refresh_blocks()

    # -- reading ---------------------------------------------------------------------
    def refresh_blocks(self) -> None:
        app = memos_app(self)
        if app.agent_id is None:
            return
        blocks = app.ws.store.list_agent_blocks(app.agent_id)
        listing = self.query_one("#block-list", ListView)
        listing.clear()
        for block in blocks:
            listing.append(BlockItem(block.label, len(block.value), block.limit, block.read_only, block.shared))
        labels = [b.label for b in blocks]
        if self.current not in labels:
            self.current = labels[0] if labels else None
        if self.current:
            listing.index = labels.index(self.current)
            self._show(self.current, keep_edits=True)
        self._show_context()

    def _show_context(self) -> None:
        """What the next prompt holds, in tokens (as `memos context` shows it)."""
        from memos.core.observe import context_lines, context_overview

        app = memos_app(self)
        overview = context_overview(app.ws, app.agent)
        self.query_one("#context-panel", Static).update("next prompt\n" + "\n".join(context_lines(overview, width=9, name_width=13)))

    def _block(self, label: str):
        return memos_app(self).ws.store.get_agent_block(memos_app(self).chosen_agent_id, label)

    def _show(self, label: str, keep_edits: bool = False) -> None:
        block = self._block(label)
        editor = self.query_one("#block-editor", TextArea)
        unsaved = keep_edits and getattr(self, "_loaded", None) not in (None, editor.text) and self.current == label
        if not unsaved:
            editor.load_text(block.value)
            self._loaded = block.value
        editor.read_only = False
        self.query_one("#block-title", Static).update(
            f"{block.label} · version {block.version}" + (" · read-only for the agent" if block.read_only else ""))
        self._count()

    def on_list_view_selected(self, event: ListView.Selected) -> None:
        if isinstance(event.item, BlockItem):
            self.current = event.item.label_text
            self._show(self.current)

    # -- the limit, live ------------------------------------------------------------------
    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._count()

    def _count(self) -> None:
        if not self.current:
            return
        block = self._block(self.current)
        used = len(self.query_one("#block-editor", TextArea).text)
        over = used > block.limit
        counter = self.query_one("#block-count", Static)
        counter.update(f"{used:,} / {block.limit:,} chars" + (f" · {used - block.limit:,} over the limit" if over else ""))
        counter.set_class(over, "over")
        self.query_one("#save", Button).disabled = over

    # -- writing --------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"save": self.action_save, "undo": self.action_undo, "history": self.action_history,
         "rollback": self.action_rollback}[str(event.button.id)]()

    def action_save(self) -> None:
        from memos.core import memory

        if not self.current:
            return
        text = self.query_one("#block-editor", TextArea).text
        try:
            edit = memory.set_value(memos_app(self).ws.store, memos_app(self).agent,
                                    self.current, text, actor="user", reason="tui")
        except MemosError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self._loaded = edit.after.value
        self.app.notify(f"saved {self.current} (version {edit.after.version})")
        self.refresh_blocks()

    def action_undo(self) -> None:
        from memos.core import memory

        if not self.current:
            return
        try:
            edit = memory.undo(memos_app(self).ws.store, memos_app(self).agent, self.current)
        except MemosError as exc:
            self.app.notify(str(exc), severity="warning")
            return
        self._loaded = None
        self.app.notify(f"{self.current} is back at version {edit.after.version}'s text")
        self._show(self.current)
        self.refresh_blocks()

    def action_rollback(self) -> None:
        from memos.tui.widgets.ask import Ask

        if not self.current:
            return
        label = self.current

        def chosen(answer: str | None) -> None:
            from memos.core import memory

            if not answer:
                return
            try:
                edit = memory.rollback(memos_app(self).ws.store, memos_app(self).agent, label,
                                       int(answer.lstrip("v")))
            except ValueError:
                self.app.notify(f"'{answer}' is not a version number", severity="error")
                return
            except MemosError as exc:
                self.app.notify(str(exc), severity="error")
                return
            self._loaded = None
            self.app.notify(f"{label} restored to version {answer.lstrip('v')} (now version {edit.after.version})")
            self._show(label)
            self.refresh_blocks()

        self.app.push_screen(Ask(f"Roll '{label}' back to which version?", "e.g. 2 (see History)"), chosen)

    def action_history(self) -> None:
        from memos.core import memory

        if not self.current:
            return
        versions = memory.history(memos_app(self).ws.store, memos_app(self).agent, self.current)
        lines = []
        for v in reversed(versions[-10:]):
            lines.append(f"v{v.version} by {v.actor} ({v.reason}) {v.created_at:%Y-%m-%d %H:%M}")
            diff = difflib.unified_diff((v.old_value or "").splitlines(), v.new_value.splitlines(), lineterm="", n=0)
            lines += [f"    {line}" for line in list(diff)[2:8]]
        self.query_one("#block-history", Static).update("\n".join(lines) or "no history")
