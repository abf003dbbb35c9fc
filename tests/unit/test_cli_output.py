"""How the CLI writes tables and notes: a terminal gets Rich, a pipe plain text, and a cell is
always data (never Rich markup)."""

from __future__ import annotations

import pytest

from memos.cli import output


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """stdout and stderr count as a terminal, the way Rich itself decides (TTY_COMPATIBLE)."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    output.out.cache_clear()
    output.err.cache_clear()
    yield
    output.out.cache_clear()
    output.err.cache_clear()


def test_a_pipe_gets_tab_separated_lines(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    output.table(["name", "note"], [["ada", "[red]x[/red]"], ["bob", None]])
    output.note("two rows")
    captured = capsys.readouterr()
    assert captured.out == "name\tnote\nada\t[red]x[/red]\nbob\t\n"
    assert captured.err == "two rows\n"


def test_a_cell_on_a_terminal_is_shown_as_typed(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    output.table(["name", "note"], [["ada", "[red]alarm[/red] [bold]"]])
    shown = capsys.readouterr().out
    assert "[red]alarm[/red] [bold]" in shown
    assert "name" in shown and "ada" in shown
