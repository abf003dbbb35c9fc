"""`memos db`: which database is in use, and moving a DuckDB store into PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from memos.cli import output
from memos.cli.common import JsonOpt, workspace

app = typer.Typer(help="The database: backend, schema version, migration to PostgreSQL.", no_args_is_help=True)


@app.command("info")
def info(json_out: JsonOpt = False) -> None:
    """Show the backend in use (DuckDB or PostgreSQL), where it is, its schema version and size."""
    from memos.core.database import database_info

    details = database_info(workspace())
    if json_out:
        output.emit_json(details)
        return
    shown = {key: value for key, value in details.items() if key != "migrations"}
    output.table(["", "value"], [(key.replace("_", " "), "" if value is None else value) for key, value in shown.items()])


@app.command("migrate-to")
def migrate_to(
    url: Annotated[str, typer.Argument(help="The PostgreSQL database to fill, postgresql://user@host:port/name.")],
    source: Annotated[Path | None, typer.Option("--from", help="The DuckDB file to copy (default: this home's).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy every agent, block (with history), message, passage (with embeddings), tool, step and
    evolution from DuckDB into an empty PostgreSQL database, verified by counts and checksums.
    All or nothing: on any failure the target is rolled back."""
    from memos.core.database import migrate_to as run

    report = run(workspace(), url, source=source, progress=output.note)
    if json_out:
        output.emit_json(report)
        return
    output.table(["table", "rows", "sha256"], [(name, t["rows"], t["sha256"][:16]) for name, t in report["tables"].items()],
                 title=f"verified in {report['seconds']} s")
    output.note(f"to use it: export MEMOS_DATABASE_URL='{url}' (or `memos config set database_url …`)")
