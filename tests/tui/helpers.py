"""Helpers for driving the TUI in tests."""

from __future__ import annotations

from typing import Any


async def show(pilot: Any, app: Any, tab: str) -> None:
    """Open a tab once the app has settled (its start-up tab activation can land late in a test)."""
    from textual.css.query import NoMatches
    from textual.widgets import TabbedContent

    steady = 0
    for _ in range(200):
        try:
            active = app.query_one(TabbedContent).active
        except NoMatches:  # not composed yet (a loaded machine)
            await pilot.pause(0.05)
            continue
        if active != tab:
            app.action_show_tab(tab)
            steady = 0
        else:
            steady += 1
            if steady >= 3:
                return
        await pilot.pause(0.05)
    raise AssertionError(f"the {tab} tab did not stay open")
