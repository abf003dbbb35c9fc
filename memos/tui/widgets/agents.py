"""Agents: model, message and passage counts, last activity, pending evolutions; create, switch, delete."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from memos.tui.events import AgentSelected
from memos.tui.widgets.base import memos_app, selected_key


class AgentsPane(Vertical):
    BINDINGS = [Binding("enter", "use", "Use agent"), Binding("n", "create", "New agent"),
                Binding("d", "delete", "Delete agent")]

    def compose(self) -> ComposeResult:
        yield Static("", id="agents-status", classes="status", markup=False)
        yield DataTable(id="agents-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("agent", "model", "messages", "passages", "last activity", "pending evolutions")
        self.refresh_rows()

    def refresh_rows(self) -> None:
        ws = memos_app(self).ws
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        pending: dict[str, int] = {}
        for evolution in ws.store.list_evolutions(status="pending"):
            pending[evolution.agent_id] = pending.get(evolution.agent_id, 0) + 1
        for agent in ws.store.list_agents():
            counts = ws.store.agent_counts(agent.id)
            mark = "● " if agent.id == memos_app(self).agent_id else "  "
            last = counts.last_activity.strftime("%Y-%m-%d %H:%M") if counts.last_activity else "-"
            table.add_row(mark + agent.name, agent.model, f"{counts.messages:,}", f"{counts.passages:,}", last,
                          str(pending.get(agent.id, 0) or "-"), key=agent.id)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        self.query_one("#agents-status", Static).update(f"{table.row_count} agent(s) · Enter uses one · n new · d delete")

    def _selected(self) -> str | None:
        return selected_key(self.query_one(DataTable))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.post_message(AgentSelected(str(event.row_key.value)))

    def action_use(self) -> None:
        agent_id = self._selected()
        if agent_id:
            self.post_message(AgentSelected(agent_id))

    def action_create(self) -> None:
        from memos.tui.widgets.ask import Ask

        def made(name: str | None) -> None:
            if not name:
                return
            from memos.core.agents import create_agent

            agent = create_agent(memos_app(self).ws, name)
            self.refresh_rows()
            self.post_message(AgentSelected(agent.id))

        self.app.push_screen(Ask("Name of the new agent:", "letters, digits, . _ -"), made)

    def action_delete(self) -> None:
        from memos.tui.widgets.confirm import Confirm

        agent_id = self._selected()
        if not agent_id:
            return
        agent = memos_app(self).ws.store.get_agent(agent_id)

        def decided(yes: bool | None) -> None:
            if yes:
                from memos.core.agents import delete_agent

                delete_agent(memos_app(self).ws, agent)
                self.app.notify(f"deleted agent {agent.name}")
                self.refresh_rows()

        self.app.push_screen(Confirm(f"Delete agent '{agent.name}' with all its messages and memory?"), decided)
