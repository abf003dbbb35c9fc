"""The root command's subcommands, imported only when they are called.

Building every command up front means importing every command module and turning each of
their functions into a click command: about 90 ms on each `memos` call, for the one that
runs. The root group knows its subcommands by name and where they live, and builds one
when click asks for it: `memos usage` imports `memos.cli.usage` and nothing else, while
`memos --help` and the command reference still see all of them, in this order.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # Typer vendors click; its groups hold these commands
from typer.core import TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A subcommand by address: ``module:attribute``, a function (one command) or a Typer app (a group)."""

    address: str

    def load(self) -> Any:
        module, _, attribute = self.address.partition(":")
        return getattr(importlib.import_module(module), attribute)


def build(name: str, target: Any, rich_markup_mode: Any) -> click.Command:
    """The click command for a function or a Typer app, built the way `add_typer`/`command` would."""
    from typer.main import get_command_from_info, get_group_from_info
    from typer.models import TyperInfo

    if isinstance(target, typer.Typer):
        command: click.Command = get_group_from_info(
            TyperInfo(target), pretty_exceptions_short=True, rich_markup_mode=rich_markup_mode,
            suggest_commands=True)
    else:
        holder = typer.Typer()
        holder.command(name)(target)
        command = get_command_from_info(holder.registered_commands[0], pretty_exceptions_short=True,
                                        rich_markup_mode=rich_markup_mode)
    command.name = name
    return command


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands by name, each built when it is first looked up.

    Click and Typer read a group's `commands` for dispatch, help and "did you mean"; naming
    them costs nothing, building them happens on `__getitem__`."""

    def __init__(self, addresses: dict[str, Lazy], rich_markup_mode: Any) -> None:
        self._addresses = addresses
        self._rich_markup_mode = rich_markup_mode
        self._built: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._built:
            if name not in self._addresses:
                raise KeyError(name)
            self._built[name] = build(name, self._addresses[name].load(), self._rich_markup_mode)
        return self._built[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._built.pop(name, None)
        self._addresses.pop(name, None)  # the group's own copy

    def __iter__(self) -> Iterator[str]:
        return iter([*self._addresses, *(name for name in self._built if name not in self._addresses)])

    def __len__(self) -> int:
        return len(set(self._addresses) | set(self._built))


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands are the class's `subcommands`, built on first use."""

    subcommands: dict[str, Lazy] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(dict(self.subcommands), self.rich_markup_mode)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # names only: TyperGroup's reads every command
