"""The typer application, its ``profiles`` group, and the one way commands warn."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch import __version__

app = typer.Typer(
    name="talospatch",
    help="Generate Talos Linux host ingress-firewall patches from role profiles.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
profiles_app = typer.Typer(help="List the built-in and custom profiles, or show one.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


def warn(message: str) -> None:
    sys.stderr.write(f"talospatch: warning: {message}\n")


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
