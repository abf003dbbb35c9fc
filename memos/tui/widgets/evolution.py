"""Evolution review: canaries in flight (a bar per version, refreshed live as calls arrive from
any process); pending and past evolutions; the highlighted diff; run the checks with progress
in a worker; accept, reject, promote and roll back with confirmation; the staged check reports,
the utility score and the reason each decision was taken."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from memos.errors import MemosError
from memos.evolve.checks import describe_shadow
from memos.tui.widgets.base import memos_app, selected_key


class EvolutionPane(Horizontal):
    BINDINGS = [Binding("t", "test", "Run checks"), Binding("a", "accept", "Accept"), Binding("r", "reject", "Reject"),
                Binding("p", "promote", "Promote"), Binding("b", "rollback", "Roll back")]
    CANARY_REFRESH_SECONDS = 2.0

    def compose(self) -> ComposeResult:
        with Vertical(id="evolution-list-box"):
            yield Static("", id="evolution-status", classes="status", markup=False)
            yield Static("", id="evolution-canaries", markup=False)
            yield DataTable(id="evolution-table", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="evolution-detail-box"):
            yield Static("", id="evolution-report", markup=False)
            yield Static("", id="evolution-diff")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("status", "tests", "shadow", "title")
        self._canaries: list[str] = []
        self.refresh_rows()
        self.refresh_canaries()
        self.set_interval(self.CANARY_REFRESH_SECONDS, self.refresh_canaries)

    def refresh_canaries(self) -> None:
        """The canaries' figures; the list too when one ended (another process may have decided)."""
        from memos.evolve.canary import status, status_lines

        app = memos_app(self)
        if app.agent_id is None:
            return
        rows = status(app.ws, app.agent_id)
        lines = []
        for r in rows:
            serving = f"split {r['share']:.0%}" if r["mode"] == "split" else "shadow"
            lines += [f"canary: {r['title']} ({serving}; {', '.join(r['tools'])})"] + [f"  {x}" for x in status_lines(r)]
        panel = self.query_one("#evolution-canaries", Static)
        panel.update("\n".join(lines))
        panel.display = bool(lines)
        ids = [r["id"] for r in rows]
        if ids != self._canaries:
            self._canaries = ids
            self.refresh_rows()

    def refresh_rows(self) -> None:
        app = memos_app(self)
        if app.agent_id is None:
            return
        rows = [e for e in app.ws.store.list_evolutions(app.agent_id) if e.status != "no_change"]
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for e in rows:
            shadow = e.shadow_report or {}
            tests = "-" if e.test_report is None else ("passed" if e.test_report.get("passed") else "failed")
            flag = describe_shadow(shadow, short=True)
            table.add_row(e.status, tests, flag, e.title, key=e.id)
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
            self._show(self._selected())
        pending = sum(1 for e in rows if e.status == "pending")
        canaries = sum(1 for e in rows if e.status == "canary")
        self.query_one("#evolution-status", Static).update(
            f"{len(rows)} evolution(s), {pending} pending, {canaries} canary · t checks · a accept · r reject · "
            "p promote · b roll back")
        self._canaries = [e.id for e in rows if e.status == "canary"]

    def _selected(self) -> str | None:
        return selected_key(self.query_one(DataTable))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None:
            self._show(str(event.row_key.value))

    def _show(self, evolution_id: str | None) -> None:
        if evolution_id is None:
            return
        from rich.syntax import Syntax

        from memos.evolve import branches
        from memos.tools.shared_code import tool_repo

        ws = memos_app(self).ws
        e = ws.store.get_evolution(evolution_id)
        report = [f"{e.title}  [{e.status}]", f"why: {e.rationale or '-'}"]
        if e.reason:
            report.append(f"decision: {e.reason} (by {e.decided_by or '-'})")
        for stage in e.stages or []:
            report.append(f"stage {stage['stage']}: {stage['status']} — {stage['summary']}")
        if not e.stages and e.test_report:
            report.append(f"tests: {'passed' if e.test_report.get('passed') else 'FAILED'} — {e.test_report.get('summary')}")
        if e.shadow_report:
            report.append(describe_shadow(e.shadow_report))
        if e.utility:
            report.append(f"utility {e.utility['score']:+.2f} (threshold {e.utility.get('threshold', 0):+.2f})")
        self.query_one("#evolution-report", Static).update("\n".join(report))
        diff = ""
        if e.base_commit and e.head_commit:
            try:
                diff = branches.diff(tool_repo(ws, ws.store.get_agent(e.agent_id)), e.base_commit, e.head_commit)
            except Exception:
                diff = "(the branch of this evolution is gone)"
        self.query_one("#evolution-diff", Static).update(Syntax(diff or "(no diff)", "diff", theme="ansi_dark"))

    def action_test(self) -> None:
        evolution_id = self._selected()
        if evolution_id:
            self.query_one("#evolution-detail-box").loading = True  # a spinner until the reports are in
            self.query_one("#evolution-status", Static).update("running the tests, then shadow replay…")
            self.run_worker(lambda: self._recheck(evolution_id), thread=True, exclusive=True, group="evolve-checks")

    def _recheck(self, evolution_id: str) -> None:
        from memos.evolve.review import recheck

        app = memos_app(self)
        try:
            _, result = recheck(app.ws, app.ws.store.get_evolution(evolution_id))
            app.call_from_thread(app.notify, f"checks done: tests {'passed' if result.tests.passed else 'failed'}")
        except MemosError as exc:
            app.call_from_thread(app.notify, str(exc), severity="error")
        app.call_from_thread(self._checked)

    def _checked(self) -> None:
        self.query_one("#evolution-detail-box").loading = False
        self.refresh_rows()

    def _decide(self, action: str, question: str) -> None:
        from memos.evolve import review
        from memos.tui.widgets.confirm import Confirm

        evolution_id = self._selected()
        if not evolution_id:
            return
        ws = memos_app(self).ws
        e = ws.store.get_evolution(evolution_id)

        def decided(yes: bool | None) -> None:
            if not yes:
                return
            try:
                done = {"accept": review.accept, "reject": review.reject, "rollback": review.rollback,
                        "promote": review.promote}[action](ws, e)
                self.app.notify(f"{done.status.replace('_', ' ')}: {done.title}")
            except MemosError as exc:
                self.app.notify(str(exc), severity="error")
            self.refresh_rows()

        self.app.push_screen(Confirm(question.format(title=e.title)), decided)

    def action_accept(self) -> None:
        self._decide("accept", "Accept '{title}' (a canary first when it changes existing tools)?")

    def action_reject(self) -> None:
        self._decide("reject", "Reject '{title}'? (its branch stays in the archive)")

    def action_promote(self) -> None:
        self._decide("promote", "Promote canary '{title}' to every call?")

    def action_rollback(self) -> None:
        self._decide("rollback", "Roll back '{title}'?")
