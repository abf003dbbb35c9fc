"""`memos config`: settings in $MEMOS_HOME/config.toml (API keys stay in the environment)."""

from __future__ import annotations

from typing import Annotated

import typer

from memos.cli import output
from memos.cli.common import JsonOpt, workspace

app = typer.Typer(help="Show and change settings.", no_args_is_help=True)


@app.command("show")
def show(json_out: JsonOpt = False) -> None:
    """Every setting with its value and where it comes from, and which provider keys the
    environment has. On a PostgreSQL store shared by several machines, most settings are the
    cluster's (scope "cluster": kept in the database, the same on every replica)."""
    from memos.core.config import PROVIDER_KEY_VARIABLES, provider_key_status

    ws = workspace()
    items = ws.config.items()
    keys = provider_key_status()
    if json_out:
        output.emit_json({
            "path": str(ws.config.path),
            "settings": {item.key: item.value for item in items},
            "sources": {item.key: {"source": item.source, "scope": item.scope} for item in items},
            "provider_keys": {p: {"variable": PROVIDER_KEY_VARIABLES[p], "set": s} for p, s in keys.items()},
        })
        return
    output.table(["key", "value", "source", "scope", "about"], [
        (item.key, "" if item.value is None else item.value, item.source, item.scope, item.about) for item in items])
    for line in ws.config.drift():
        output.note(line)
    output.table(["provider", "key variable", "set"], [
        (p, PROVIDER_KEY_VARIABLES[p], "yes" if s else "no") for p, s in keys.items()])


@app.command("get")
def get(key: Annotated[str, typer.Argument(help="Setting name, e.g. default_model.")], json_out: JsonOpt = False) -> None:
    """Print one setting."""
    value = workspace().config.get(key)
    if json_out:
        output.emit_json({"key": key, "value": value})
    else:
        output.plain("" if value is None else str(value))


@app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="Setting name.")],
    value: Annotated[str, typer.Argument(help="New value.")],
    json_out: JsonOpt = False,
) -> None:
    """Change one setting."""
    stored = workspace().config.set(key, value)
    if json_out:
        output.emit_json({"key": key, "value": stored})
    else:
        output.note(f"{key} = {stored}")


@app.command("unset")
def unset(key: Annotated[str, typer.Argument(help="Setting name.")]) -> None:
    """Return one setting to its default."""
    workspace().config.unset(key)
    output.note(f"{key} reset to its default")


@app.command("path")
def path() -> None:
    """Print where config.toml lives."""
    output.plain(str(workspace().config.path))
