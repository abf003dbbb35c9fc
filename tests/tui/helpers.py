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


async def settled_screenshot(pilot: Any, app: Any, title: str = "memos") -> str:
    """The screen once it stops changing: tab underline slides, lists re-mounted, footer re-bound.

    A snapshot taken on a loaded machine could otherwise catch a frame mid-way (seen in CI:
    an empty block list under a half-moved tab underline).
    """
    from textual.widgets import Input, TextArea

    # A blinking cursor never settles; a steady one is what a still terminal shows.
    for widget in app.query(Input).results():
        widget.cursor_blink = False
    for area in app.query(TextArea).results():
        area.cursor_blink = False
    await pilot.wait_for_scheduled_animations()
    previous, same = None, 0
    for _ in range(100):
        await pilot.pause(0.1)
        current = app.export_screenshot(title=title)
        same = same + 1 if current == previous else 0
        if same >= 2:
            return current
        previous = current
    raise AssertionError("the screen kept changing for 10 s")
