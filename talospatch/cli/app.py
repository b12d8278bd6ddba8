"""The typer application, the table of its commands, and the one way commands warn.

The root command loads its commands lazily (click's "lazily loading subcommands" pattern):
each command lives in its own module here, with a ``typer.Typer`` of its own named ``app``,
and that module is imported, and the command's options built, only when the command is used:
run, asked for ``--help``, or completed. ``talospatch --help`` and completing the command names
read ``COMMANDS`` alone, and ``talospatch gen`` builds gen's options only, not every command's.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager
from typing import Annotated, Any, Protocol

import typer

# typer's own names only: ``typer``, ``typer.main.get_command`` and the ``typer.core`` classes
# the root builds on (tests/cli/test_imports.py keeps typer's private modules and click out).
from typer.core import TyperCommand, TyperGroup

from talospatch import __version__


class Command:
    """A command of the root: the module of this package that holds it, and its one-line summary."""

    __slots__ = ("module", "summary")

    def __init__(self, module: str, summary: str) -> None:
        self.module = module
        self.summary = summary


# In the order ``talospatch --help`` lists them: a workflow's order, not the alphabet's.
COMMANDS: dict[str, Command] = {
    "gen": Command("gen", "Write the firewall patch: default deny plus per-service allows."),
    "explain": Command("explain", "Show, per rule, the ports, protocol, who is allowed and why."),
    "nft": Command("nft", "Print the nftables ruleset Talos builds from the documents."),
    "query": Command("query", "Can this source reach this port? Exit 0 if allowed, 1 if not."),
    "check": Command("check", "Lint firewall documents: lockouts, open services, Talos errors."),
    "diff": Command("diff", "Which sources gain or lose which ports between two patches."),
    "verify": Command("verify", "Compare a node's nftables chains with the patch."),
    "audit": Command("audit", "Join a node's listening sockets with who may reach them."),
    "export": Command("export", "Write the same rules for AWS, Proxmox, pfSense or OPNsense."),
    "init": Command("init", "Print a cluster spec (talospatch.yaml) from gen's options."),
    "build": Command("build", "Write each cluster spec's patches into its output folder."),
    "plan": Command("plan", "The steps that apply each node's patch: try, check, confirm."),
    "profiles": Command("profiles", "List the built-in and custom profiles, show one, or find a port."),
}


def command_app(name: str) -> typer.Typer:
    """The ``app`` of a command's module: one command, or for a group (``profiles``) its subcommands."""
    return typer.Typer(
        name=name,
        help=COMMANDS[name].summary,
        no_args_is_help=True,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_completion=False,
    )


# typer names no public type for the click objects its hooks pass (a command, the context, a
# completion item): the root's overrides take them as ``Any``, and name what they use of the
# help formatter.
ClickObject = Any


class _Formatter(Protocol):
    def section(self, name: str) -> AbstractContextManager[None]: ...

    def write_dl(self, rows: Sequence[tuple[str, str]]) -> None: ...


class _Commands(MutableMapping[str, ClickObject]):
    """The root's commands by name, every name of ``COMMANDS`` from the start (for typo
    suggestions): a command is built from its module when it is first looked up. While
    ``summaries()`` holds, a command not built yet is looked up as a stand-in that carries
    its name and summary only."""

    def __init__(self) -> None:
        self._built: dict[str, ClickObject] = {}
        self._summaries = False

    @contextlib.contextmanager
    def summaries(self) -> Iterator[None]:
        self._summaries = True
        try:
            yield
        finally:
            self._summaries = False

    def __getitem__(self, name: str) -> ClickObject:
        if name in self._built:
            return self._built[name]
        if name not in COMMANDS:
            raise KeyError(name)
        if self._summaries:
            return TyperCommand(name, short_help=COMMANDS[name].summary, add_help_option=False)
        command = typer.main.get_command(importlib.import_module(f"talospatch.cli.{COMMANDS[name].module}").app)
        command.short_help = COMMANDS[name].summary
        self._built[name] = command
        return command

    def __contains__(self, name: object) -> bool:
        return name in COMMANDS or name in self._built

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(COMMANDS), **self._built})

    def __len__(self) -> int:
        return len({**dict.fromkeys(COMMANDS), **self._built})

    def __setitem__(self, name: str, command: ClickObject) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]


class _LazyRoot(TyperGroup):
    """The root command over ``_Commands``: listing, help and completion read ``COMMANDS``,
    so they build no command."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.lazy = _Commands()
        self.commands = self.lazy

    def list_commands(self, ctx: object) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: object, formatter: _Formatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.summary) for name, command in COMMANDS.items()])

    def shell_complete(self, ctx: ClickObject, incomplete: str) -> list[ClickObject]:
        """typer's completion (command names, then the root's own options) over the
        summaries, so completing a name builds no command."""
        with self.lazy.summaries():
            return super().shell_complete(ctx, incomplete)


app = typer.Typer(
    name="talospatch",
    cls=_LazyRoot,
    help="Generate Talos Linux host ingress-firewall patches from role profiles.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def warn(message: str) -> None:
    sys.stderr.write(f"talospatch: warning: {message}\n")


def note(message: str) -> None:
    """Where a value came from (the node's config, a flag over it): on stderr, beside the result."""
    sys.stderr.write(f"talospatch: {message}\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"talospatch {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Generate Talos Linux host ingress-firewall patches from role profiles."""
