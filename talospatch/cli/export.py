"""``talospatch export TARGET``: the same requirements for another firewall in the cluster's path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from talospatch.cli.app import app, warn
from talospatch.cli.params import LABELS, command_line, gen_options
from talospatch.errors import BadInput
from talospatch.options import GenOptions

Target = Annotated[
    str, typer.Argument(metavar="TARGET", help="aws-terraform, proxmox, proxmox-terraform (see the README).")
]
OutputDir = Annotated[
    str | None,
    typer.Option("--output-dir", metavar="DIR", help="Write the target's files into DIR (created if missing)."),
]


@app.command()
@gen_options(role_required=False, with_role=False)
def export(opts: GenOptions, target: Target, output_dir: OutputDir = None) -> None:
    """Write another firewall (AWS security groups, Proxmox, ...) from the same profiles and options."""
    from talospatch import output
    from talospatch.export import TARGETS, build_cluster
    from talospatch.export import export as render_target

    if target in TARGETS and output_dir is None and not TARGETS[target].single_file:
        raise typer.BadParameter(f"{target} writes several files: give --output-dir DIR", param_hint="--output-dir")
    result = render_target(target, build_cluster(opts, labels=LABELS, command=command_line))
    for message in result.warnings:
        warn(message)
    if output_dir is None:
        (text,) = result.files.values()
        sys.stdout.write(text)
        return
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"--output-dir {output_dir}: not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in result.files.items():
        output.write_atomic(str(folder / name), text, "--output-dir")
