"""``talospatch init``: turn gen's options into a cluster spec."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app
from talospatch.cli.params import LABELS, gen_options
from talospatch.generate.options import GenOptions

Output = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="FILE", help="Write the spec to FILE (atomically) instead of stdout."),
]
From = Annotated[
    list[str] | None,
    typer.Option(
        "--from",
        metavar="ADDRESS",
        help="Address where talosctl/kubectl run (repeatable): build refuses a patch that cuts it off.",
    ),
]


app = command_app("init")


@app.command()
@gen_options(role_required=False)
def init(opts: GenOptions, output: Output = None, guard_from: From = None) -> None:
    """Print a cluster spec (talospatch.yaml) that says what gen's options say.

    With --role the spec builds that role only; without it, controlplane and worker.
    """

    from talospatch import output as files
    from talospatch.generate.expand import expand
    from talospatch.spec.init import spec_text

    if output is not None:
        files.check_target(output, LABELS("output"))
    if guard_from:
        opts = opts._replace(guard_from=tuple(guard_from))
    if opts.role:
        expand(opts, labels=LABELS)  # errors name gen's flags
    folder = os.path.dirname(output) if output else "."
    text = spec_text(opts, folder or ".")
    if output is None:
        sys.stdout.write(text)
    else:
        files.write_atomic(output, text, LABELS("output"))
