"""``talospatch explain``: per rule, the ports, protocol, who is allowed and why."""

from __future__ import annotations

import sys

from talospatch.cli.app import app, warn
from talospatch.cli.params import LABELS, gen_options
from talospatch.options import GenOptions


@app.command()
@gen_options(role_required=True)
def explain(opts: GenOptions) -> None:
    """Show, per rule, the ports, protocol, who is allowed and why."""
    from talospatch.expand import expand
    from talospatch.explain import rows, table_text

    generated = expand(opts, labels=LABELS)
    for message in generated.warnings:
        warn(message)
    header = ["rule", "ports", "protocol", "allowed sources", "why"]
    body = rows(generated)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        from talospatch.cli.params import command_line

        table = Table(*header, title=command_line(generated.options), title_justify="left")
        for row in body:
            table.add_row(*row)
        Console().print(table)
    else:
        sys.stdout.write(table_text(header, body))
