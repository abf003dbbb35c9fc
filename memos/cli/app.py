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
from memos.cli.lazy import Lazy, LazyGroup


class MemosGroup(LazyGroup):
    """The root command; a subcommand's module is imported when it is called (cli/lazy.py)."""

    subcommands = {name: Lazy(f"memos.cli.{address}") for name, address in {
        "chat": "chat:chat",
        "send": "send:send",
        "approve": "send:approve",
        "deny": "send:deny",
        "models": "models:models",
        "serve": "serve:serve",
        "tui": "tui:tui",
        "doctor": "doctor:doctor",
        "usage": "usage:usage",
        "context": "usage:context",
        "agents": "agents:app",
        "memory": "memory:app",
        "messages": "messages:app",
        "conversations": "conversations:app",
        "folders": "folders:app",
        "archival": "archival:app",
        "tools": "tools:app",
        "evolve": "evolve:app",
        "runs": "runs:app",
        "schedule": "schedule:app",
        "config": "config_cmd:app",
        "db": "db:app",
        "mcp": "mcp:app",
    }.items()}


app = typer.Typer(
    name="memos",
    cls=MemosGroup,
    help="memos: a stateful agent in your terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

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
        with path.open("a", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(f"--- {datetime.now().isoformat()} memos {' '.join(sys.argv[1:])}\n")
            handle.write("".join(traceback.format_exception(exc)))
        return str(path)
    except (OSError, ValueError):
        return None


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


def main() -> None:
    try:
        _run()
    finally:
        # Exiting, Python collects every object it made (~15 ms here) before tearing its modules
        # down; nothing of ours needs that (stores close in atexit, files in `with`), so freeze
        # them out of the final collection: a memos command is on the clock until it exits.
        import gc

        gc.freeze()


def _invalid_argument() -> str | None:
    """An argument that is not UTF-8 (Python hands it over with lone surrogates): named here, in
    one line, before any command could store or print it."""
    from memos.core.limits import text_problem

    for position, argument in enumerate(sys.argv[1:], start=1):
        if text_problem(argument):
            shown = argument.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return f"argument {position} ({shown[:60]}) is not valid UTF-8 (convert it to UTF-8, e.g. with iconv)"
    return None


def _run() -> None:
    from memos.errors import MemosError

    problem = _invalid_argument()
    if problem:
        _fail(problem, 2)
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
        from memos.errors import storage_problem

        storage = storage_problem(exc)  # a full disk or a read-only home: said plainly
        if storage is not None:
            _fail(str(storage), 1)
        where = _log_unexpected(exc)
        detail = f"; details in {where}" if where else ""
        _fail(f"unexpected failure: {type(exc).__name__}: {exc}{detail} (rerun with --debug to see the traceback)", 1)
    else:
        sys.exit(code if isinstance(code, int) else 0)
