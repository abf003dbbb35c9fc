"""docs/cli.md, generated from the Typer app: every command, its arguments, options and help.

    .venv/bin/python scripts/cli_reference.py          write docs/cli.md
    .venv/bin/python scripts/cli_reference.py --check  exit 1 if docs/cli.md is out of date

tests/unit/test_cli_reference.py runs the check, so the reference cannot drift from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer.main

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "cli.md"


# Typer carries its own copy of click, so commands and parameters are read by their attributes.


def _context(command: Any, path: list[str]) -> Any:
    return command.context_class(command, info_name=" ".join(path))


def _usage(command: Any, path: list[str]) -> str:
    return " ".join(command.collect_usage_pieces(_context(command, path)))


def _param_rows(command: Any, path: list[str]) -> list[str]:
    """One row per argument and option, as `--help` describes it (names, help, default, choices)."""
    context = _context(command, path)
    rows = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        record = param.get_help_record(context)
        if record is None:
            names, text = param.human_readable_name, getattr(param, "help", None) or ""
        else:
            names, text = record
        kind = param.param_type_name
        rows.append(f"| `{' '.join(names.split())}` | {kind} | {' '.join(text.split()).replace('|', '/')} |")
    return rows


def _document(command: Any, path: list[str], out: list[str]) -> None:
    level = min(len(path) + 1, 4)
    out.append(f"{'#' * level} `{' '.join(path)}`\n")
    help_text = (command.help or "").strip()
    if help_text:
        out.append(help_text + "\n")
    if hasattr(command, "list_commands"):
        rows = _param_rows(command, path)
        if rows:
            out += ["| name | kind | what |", "|---|---|---|", *rows, ""]
        for name in command.list_commands(_context(command, path)):
            child = command.get_command(_context(command, path), name)
            if child is not None and not child.hidden:
                _document(child, [*path, name], out)
        return
    out.append(f"```\n{' '.join(path)} {_usage(command, path)}\n```\n")
    rows = _param_rows(command, path)
    if rows:
        out += ["| name | kind | what |", "|---|---|---|", *rows, ""]


def render() -> str:
    from memos.cli.app import app

    out = ["# memos command reference", "",
           "Generated from the Typer app by `scripts/cli_reference.py`; do not edit by hand "
           "(`tests/unit/test_cli_reference.py` fails when this file is out of date).", ""]
    _document(typer.main.get_command(app), ["memos"], out)
    return "\n".join(out).rstrip() + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print("docs/cli.md is out of date: run .venv/bin/python scripts/cli_reference.py", file=sys.stderr)
            sys.exit(1)
        return
    TARGET.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
