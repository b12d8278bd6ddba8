"""``talospatch explain``: per rule, the ports, protocol, who is allowed and why."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app, warn
from talospatch.cli.params import LABELS, gen_options
from talospatch.errors import BadInput
from talospatch.generate.options import GenOptions

FORMATS = ("text", "markdown")

Format = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="text (a plain table; the default when piped) or markdown (the reachability matrix, "
        "source groups x ports, for a README or a review). A terminal gets a drawn table.",
    ),
]


app = command_app("explain")


@app.command()
@gen_options(role_required=True)
def explain(opts: GenOptions, output_format: Format = None) -> None:
    """Show, per rule, the ports, protocol, who is allowed and why."""
    from talospatch.checks.explain import matrix, rows, table_markdown, table_text
    from talospatch.generate.expand import expand

    if output_format is not None and output_format not in FORMATS:
        raise BadInput(f"--format {output_format!r} is not a format; valid: {', '.join(FORMATS)}")
    generated = expand(opts, labels=LABELS)
    for message in generated.warnings:
        warn(message)
    if output_format == "markdown":
        from talospatch.cli.params import command_line

        header, body = matrix(generated)
        sys.stdout.write(f"Who reaches what on `{command_line(generated.options)}`:\n\n")
        sys.stdout.write(table_markdown(header, body))
        return
    header = ["rule", "ports", "protocol", "allowed sources", "why"]
    body = rows(generated)
    if output_format is None and sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        from talospatch.cli.params import command_line

        table = Table(*header, title=command_line(generated.options), title_justify="left")
        for row in body:
            table.add_row(*row)
        Console().print(table)
    else:
        sys.stdout.write(table_text(header, body))
