"""`memos`: the root command, error handling and exit codes.

Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted. A `MemosError` prints one
line (`error: what failed (what to do)`); anything unexpected prints one line
too, with the traceback written to $MEMOS_HOME/logs/ (or shown with --debug).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from memos import __version__
from memos.cli import (
    agents,
    archival,
    chat,
    config_cmd,
    db,
    doctor,
    evolve,
    memory,
    messages,
    models,
    runs,
    send,
    serve,
    tools,
    tui,
    usage,
)

app = typer.Typer(
    name="memos",
    help="memos: a stateful agent in your terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("chat")(chat.chat)
app.command("send")(send.send)
app.command("approve")(send.approve)
app.command("deny")(send.deny)
app.command("models")(models.models)
app.command("serve")(serve.serve)
app.command("tui")(tui.tui)
app.command("doctor")(doctor.doctor)
app.command("usage")(usage.usage)
app.command("context")(usage.context)
app.add_typer(agents.app, name="agents")
app.add_typer(memory.app, name="memory")
app.add_typer(messages.app, name="messages")
app.add_typer(archival.app, name="archival")
app.add_typer(tools.app, name="tools")
app.add_typer(evolve.app, name="evolve")
app.add_typer(runs.app, name="runs")
app.add_typer(config_cmd.app, name="config")
app.add_typer(db.app, name="db")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"memos {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")] = False,
) -> None:
    if debug:
        os.environ["MEMOS_DEBUG"] = "1"


def _log_unexpected(exc: BaseException) -> str | None:
    import traceback
    from datetime import datetime

    from memos.core.home import memos_home

    try:
        logs = memos_home().logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"error-{datetime.now():%Y%m%d}.log"
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {datetime.now().isoformat()} memos {' '.join(sys.argv[1:])}\n")
            handle.write("".join(traceback.format_exception(exc)))
        return str(path)
    except OSError:
        return None


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


def main() -> None:
    from memos.errors import MemosError

    try:
        code = app(standalone_mode=False)  # returns the code of a typer.Exit raised by a command
    except MemosError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors (Typer's vendored click exceptions)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            sys.stderr.write(f"error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`memos ... | head`): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # the last line of defence: one line, details in the log
        if os.environ.get("MEMOS_DEBUG"):
            raise
        where = _log_unexpected(exc)
        detail = f"; details in {where}" if where else ""
        _fail(f"unexpected failure: {type(exc).__name__}: {exc}{detail} (rerun with --debug to see the traceback)", 1)
    else:
        sys.exit(code if isinstance(code, int) else 0)
