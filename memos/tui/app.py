"""The memos TUI: agents, memory inspector, archival browser, conversation, evolution review, runs.

A front end only: panes call core and store functions like the CLI does. Writes by
other processes (a cron pass, a pipeline) are noticed by the store's change stamp
(a stat of the DuckDB files, or PostgreSQL's transaction snapshot) every second,
and the visible pane re-reads what it shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from memos.core.workspace import Workspace
from memos.errors import InvalidInput
from memos.store.base import Agent
from memos.tui.events import AgentSelected, StoreChanged
from memos.tui.widgets.agents import AgentsPane
from memos.tui.widgets.archival import ArchivalPane
from memos.tui.widgets.base import memos_app
from memos.tui.widgets.conversation import ConversationPane
from memos.tui.widgets.evolution import EvolutionPane
from memos.tui.widgets.memory import MemoryPane
from memos.tui.widgets.runs import RunsPane

POLL_SECONDS = 1.0
# Where the keyboard goes when a tab opens (the pane's bindings work from there).
FOCUS = {"agents": "#agents-table", "memory": "#block-list", "archival": "#archival-query",
         "conversation": "#chat-input", "evolution": "#evolution-table", "runs": "#runs-table"}
PANES = {"agents": AgentsPane, "memory": MemoryPane, "archival": ArchivalPane, "conversation": ConversationPane,
         "evolution": EvolutionPane, "runs": RunsPane}


class PaneTabs(TabbedContent):
    """Tabs that only the person switches.

    Textual brings a pane to the front when a widget inside it takes focus. Focus is applied
    later than it is asked for, so a focus asked for at start-up could land after the person
    had already moved to another tab, and drag them back. Here focus follows the tab, never
    the other way round: a stray focus is sent back to the tab on show.
    """

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        event.stop()
        event.prevent_default()  # TabbedContent's own handler would switch to the focused pane
        if event.tab_pane.id != self.active:
            self.app.call_later(memos_app(self).focus_active_pane)


class MemosApp(App[None]):
    CSS_PATH = "memos.tcss"
    TITLE = "memos"
    # Focus is placed by tab (FOCUS): Textual's own first-widget focus could land in the tab
    # shown at start after another was chosen, and focus pulls its tab to the front.
    AUTO_FOCUS = None
    BINDINGS = [Binding("ctrl+q", "quit", "Quit"), Binding("f1", "show_tab('agents')", "Agents"),
                Binding("f2", "show_tab('memory')", "Memory"), Binding("f3", "show_tab('archival')", "Archival"),
                Binding("f4", "show_tab('conversation')", "Chat"), Binding("f5", "show_tab('evolution')", "Evolution"),
                Binding("f6", "show_tab('runs')", "Runs")]

    def __init__(self, ws: Workspace | None = None, agent: str | None = None) -> None:
        super().__init__()
        self.ws = ws or Workspace()
        chosen = self.ws.resolve_agent(agent) if agent or self.ws.store.list_agents() else None
        self.agent_id: str | None = chosen.id if chosen else None
        self._stamp = self.ws.store.change_stamp()

    @property
    def chosen_agent_id(self) -> str:
        """The agent the panes act on. Only the Agents tab shows until one is chosen
        (action_show_tab), so no other pane acts without one; if it ever does, the user reads
        this error as a notification, like any other."""
        if self.agent_id is None:
            raise InvalidInput("no agent chosen", "create or choose one on the Agents tab (F1)")
        return self.agent_id

    @property
    def agent(self) -> Agent:
        return self.ws.store.get_agent(self.chosen_agent_id)

    def compose(self) -> ComposeResult:
        yield Header()
        with PaneTabs(initial="agents" if self.agent_id is None else "conversation"):
            for name, pane in PANES.items():
                with TabPane(name.title(), id=name):
                    yield pane(id=f"{name}-pane")
        yield Footer()

    def on_mount(self) -> None:
        self._retitle()
        self.set_interval(POLL_SECONDS, self._poll)
        self.call_after_refresh(self.focus_active_pane)

    def focus_active_pane(self) -> None:
        """Put the keyboard in the tab on show (asked for when it opens; PaneTabs sends a stray focus back here)."""
        if not self.is_running:
            return
        pane = self.query_one(TabbedContent).active
        if pane in FOCUS:
            self.query_one(FOCUS[pane]).focus()

    def _retitle(self) -> None:
        if self.agent_id:
            self.sub_title = f"agent {self.ws.store.get_agent(self.agent_id).name}"
        else:
            self.sub_title = "no agent yet: press n on the Agents tab"

    def _poll(self) -> None:
        if not self.is_running:
            return
        stamp = self.ws.store.change_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self.post_message(StoreChanged())

    def _refresh_visible(self) -> None:
        if not self.is_running:  # shutting down: the panes' widgets are being removed
            return
        active = self.query_one(TabbedContent).active
        pane = self.query_one(f"#{active}-pane")
        refresh = getattr(pane, "refresh_rows", None) or getattr(pane, "refresh_blocks", None) or \
            getattr(pane, "refresh_log", None)
        if refresh:
            refresh()

    def on_store_changed(self, message: StoreChanged) -> None:
        self._refresh_visible()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._refresh_visible()
        self.focus_active_pane()

    def on_agent_selected(self, message: AgentSelected) -> None:
        self.agent_id = message.agent_id
        self._retitle()
        self.query_one(AgentsPane).refresh_rows()
        self.notify(f"using agent {self.ws.store.get_agent(self.agent_id).name}")

    def action_show_tab(self, tab: str) -> None:
        if tab != "agents" and self.agent_id is None:
            self.notify("create or choose an agent first", severity="warning")
            return
        self.query_one(TabbedContent).active = tab

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every pane's actions in the command palette (Ctrl+P)."""
        yield from super().get_system_commands(screen)
        for name in PANES:
            yield SystemCommand(f"Go to {name}", f"Show the {name} tab", lambda n=name: self.action_show_tab(n))
        for pane_name, pane_type in PANES.items():
            for binding in pane_type.BINDINGS:
                if isinstance(binding, Binding):
                    yield SystemCommand(f"{pane_name}: {binding.description}", f"key {binding.key}",
                                        lambda p=pane_name, a=binding.action: self._run_pane_action(p, a))

    def _run_pane_action(self, pane: str, action: str) -> None:
        self.action_show_tab(pane)
        self.call_later(self.query_one(f"#{pane}-pane").run_action, action)

    def on_unmount(self) -> None:
        self.ws.close()
