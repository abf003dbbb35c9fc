"""Runs: the agent's recent runs (turns and sleep passes) with their tokens, cost and time;
the highlighted run's steps and tool calls; the agent's usage over the last day and week.
Refreshed when the store changes, so a `memos send` in another terminal shows up as it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from memos.tui.widgets.base import memos_app, selected_key

SHOWN = 50


class RunsPane(Horizontal):

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-list-box"):
            yield Static("", id="runs-usage", classes="status", markup=False)
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="runs-detail-box"):
            yield Static("", id="runs-detail", markup=False)

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("when", "by", "status", "steps", "tokens in/out", "cost", "tools", "time")
        self.refresh_rows()

    def refresh_rows(self) -> None:
        from memos.core.observe import cost_text, duration_text, run_view

        app = memos_app(self)
        if app.agent_id is None:
            return
        self._usage(app.agent_id)
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for summary in app.ws.store.list_runs(agent_id=app.agent_id, limit=SHOWN):
            v = run_view(summary)
            status = v["status"] + (f" ({v['stop_reason']})" if v["stop_reason"] not in (None, "end_turn") else "")
            table.add_row(v["created_at"].astimezone().strftime("%m-%d %H:%M:%S"), v["actor"], status, str(v["steps"]),
                          f"{v['prompt_tokens']:,}/{v['completion_tokens']:,}",
                          cost_text(v["cost_usd"], v["unpriced_steps"]),
                          str(v["tool_calls"]) + (f" ({v['tool_errors']} failed)" if v["tool_errors"] else ""),
                          duration_text(v["duration_ms"]), key=v["id"])
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
            self._show(self._selected())
        else:
            self.query_one("#runs-detail", Static).update("no run yet: send the agent a message")

    def _usage(self, agent_id: str) -> None:
        from memos.core.observe import usage_report

        app = memos_app(self)
        now = datetime.now(UTC)
        lines = []
        for label, since in (("last 24 h", now - timedelta(days=1)), ("last 7 days", now - timedelta(days=7))):
            report = usage_report(app.ws, since=since, agent=app.agent, model=None, by="none")
            parts = [f"{r['actor']}: {r['llm_calls']} LLM calls, {r['prompt_tokens']:,} in / "
                     f"{r['completion_tokens']:,} out, {r['cost']}" for r in report["rows"]]
            lines.append(f"{label}: " + ("; ".join(parts) if parts else "nothing"))
        self.query_one("#runs-usage", Static).update("\n".join(lines))

    def _selected(self) -> str | None:
        return selected_key(self.query_one(DataTable))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._show(str(event.row_key.value))

    def _show(self, run_id: str | None) -> None:
        from memos.core.observe import run_detail, run_lines

        if run_id is None:
            return
        self.query_one("#runs-detail", Static).update("\n".join(run_lines(run_detail(memos_app(self).ws, run_id))))
