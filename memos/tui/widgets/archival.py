"""Archival browser: search (vector, text or hybrid) with scores, tags and dates; pages;
add and delete (with confirmation); stats."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Select, Static

from memos.errors import MemosError
from memos.store.base import SearchMode
from memos.tui.widgets.base import memos_app

PAGE = 50
SEARCH_MODES: dict[str, SearchMode] = {"hybrid": "hybrid", "vector": "vector", "text": "text"}


class ArchivalPane(Vertical):
    BINDINGS = [Binding("a", "add", "Add passage"), Binding("delete", "delete", "Delete passage"),
                Binding("pagedown", "next_page", "Next page"), Binding("pageup", "previous_page", "Previous page")]

    def compose(self) -> ComposeResult:
        with Horizontal(id="archival-search"):
            yield Input(placeholder="search archival memory (Enter)", id="archival-query")
            yield Select([(mode, mode) for mode in SEARCH_MODES], value="hybrid",
                         allow_blank=False, id="archival-mode")
        yield Static("", id="archival-status", classes="status", markup=False)
        yield DataTable(id="archival-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("score", "text", "tags", "created")
        self.page = 0
        self.cursors: list[str | None] = [None]  # the `after` cursor of each page seen
        self.searching = False
        self.refresh_rows()

    def refresh_rows(self) -> None:
        if self.searching:
            self.run_search()
        else:
            self.show_page()

    def show_page(self) -> None:
        app = memos_app(self)
        if app.agent_id is None:
            return
        store = app.ws.store
        passages = store.list_passages(app.agent_id, after=self.cursors[self.page], limit=PAGE)
        stats = store.passage_stats(app.agent_id)
        table = self.query_one(DataTable)
        table.clear()
        for p in passages:
            table.add_row("", _short(p.text), ", ".join(p.tags), f"{p.created_at:%Y-%m-%d %H:%M}", key=p.id)
        if passages and len(passages) == PAGE and len(self.cursors) == self.page + 1:
            self.cursors.append(passages[-1].id)
        tags = sorted(stats.tags.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        tag_text = " · tags " + ", ".join(f"{tag} {count:,}" for tag, count in tags) if tags else ""
        self.query_one("#archival-status", Static).update(
            f"{stats.total:,} passages{tag_text} · page {self.page + 1} · PgUp/PgDn pages · a add · Del delete")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.searching = bool(event.value.strip())
        self.refresh_rows()

    def run_search(self) -> None:
        # Said at once: a first search in a process loads the embedding model before it answers.
        text = self.query_one("#archival-query", Input).value
        mode = self.query_one("#archival-mode", Select).value
        self.query_one("#archival-status", Static).update(f"searching for '{text}' ({mode})…")
        self.run_worker(self._search, thread=True, exclusive=True, group="archival-search")

    def _search(self) -> None:
        from memos.core import archival
        from memos.store.base import PassageQuery

        app = memos_app(self)
        text = self.query_one("#archival-query", Input).value
        mode = SEARCH_MODES[str(self.query_one("#archival-mode", Select).value)]
        try:
            agent = app.agent
            hits = archival.search(app.ws.store, agent, PassageQuery(text=text, mode=mode, top_k=PAGE))
        except MemosError as exc:
            app.call_from_thread(app.notify, str(exc), severity="error")
            return
        app.call_from_thread(self._show_hits, hits, text, mode)

    def _show_hits(self, hits, text: str, mode: str) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for hit in hits:
            p = hit.passage
            table.add_row(f"{hit.score:.3f}", _short(p.text), ", ".join(p.tags), f"{p.created_at:%Y-%m-%d %H:%M}",
                          key=p.id)
        self.query_one("#archival-status", Static).update(f"{len(hits)} result(s) for '{text}' ({mode})")

    def action_next_page(self) -> None:
        if not self.searching and len(self.cursors) > self.page + 1:
            self.page += 1
            self.show_page()

    def action_previous_page(self) -> None:
        if not self.searching and self.page > 0:
            self.page -= 1
            self.show_page()

    def action_add(self) -> None:
        from memos.tui.widgets.ask import Ask

        def add(text: str | None) -> None:
            if text:
                self.run_worker(lambda: self._insert(text), thread=True, group="archival-add")

        self.app.push_screen(Ask("Text of the new passage:"), add)

    def _insert(self, text: str) -> None:
        from memos.core import archival
        from memos.core.ingest import Record

        app = memos_app(self)
        agent = app.agent
        archival.insert(app.ws.store, agent, [Record(text, [])])
        app.call_from_thread(self.refresh_rows)
        app.call_from_thread(app.notify, "passage added")

    def action_delete(self) -> None:
        from memos.tui.widgets.confirm import Confirm

        table = self.query_one(DataTable)
        if not table.row_count:
            return
        passage_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

        def decided(yes: bool | None) -> None:
            if yes:
                memos_app(self).ws.store.delete_passages(memos_app(self).chosen_agent_id, [passage_id])
                self.app.notify("passage deleted")
                self.refresh_rows()

        self.app.push_screen(Confirm("Delete this passage?"), decided)


def _short(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
