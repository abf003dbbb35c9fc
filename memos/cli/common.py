"""Options and helpers shared by the command modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from memos.errors import InvalidInput

if TYPE_CHECKING:
    from memos.core.workspace import Workspace
    from memos.store.base import Agent

AgentOpt = Annotated[
    str | None,
    typer.Option("--agent", "-a", help="Agent name (default: MEMOS_AGENT, config default_agent, or the only agent)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def workspace() -> Workspace:
    from memos.core.workspace import Workspace

    return Workspace()


def agent_and_workspace(name: str | None) -> tuple[Workspace, Agent]:
    ws = workspace()
    return ws, ws.resolve_agent(name)


def confirm(question: str, yes: bool) -> None:
    """Ask on a terminal; refuse (rather than guess) when nobody can answer."""
    import sys

    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(f"{question.rstrip('?')}: needs confirmation", "pass --yes to confirm")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(1)
