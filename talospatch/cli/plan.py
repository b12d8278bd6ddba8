"""``talospatch plan``: per node, the talosctl and talospatch steps that apply its patch safely."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app, warn
from talospatch.cli.formats import ReportFormat
from talospatch.errors import BadInput

SPEC_FILE = "talospatch.yaml"  # talospatch.spec.model.SPEC_FILE, without importing pydantic at start-up

Spec = Annotated[
    str | None, typer.Argument(metavar="[SPEC]", help=f"The cluster spec, with its nodes (default ./{SPEC_FILE}).")
]
Nodes = Annotated[
    list[str] | None,
    typer.Option("--node", metavar="NAME", help="Plan this node (repeatable, in this order; default: every node)."),
]
Timeout = Annotated[
    str,
    typer.Option(
        "--timeout",
        metavar="DURATION",
        help="The try window, as talosctl takes it (90s, 2m): Talos reverts a patch not confirmed within it.",
    ),
]
Format = Annotated[ReportFormat, typer.Option("--format", help="text: a shell script; json: for scripts.")]
Run = Annotated[
    bool,
    typer.Option(
        "--run",
        help="Run the steps, node after node, printing each; stop at the first that fails (the node then reverts).",
    ),
]


app = command_app("plan")


@app.command()
def plan(
    spec: Spec = None,
    nodes: Nodes = None,
    timeout: Timeout = "1m",
    output_format: Format = ReportFormat.text,
    run: Run = False,
) -> None:
    """Print, per node, the try apply, the checks to run inside the try window, and the confirming apply."""
    import json
    import shutil

    from talospatch.workflows.plan import TALOSCTL, make_plan, plan_dict, plan_text, run_plan

    if run and output_format is ReportFormat.json:
        raise BadInput("--run prints the steps as it runs them; leave out --format json")
    made = make_plan(spec or SPEC_FILE, nodes or (), timeout)
    for message in made.warnings:
        warn(message)
    if not run:
        sys.stdout.write(
            json.dumps(plan_dict(made), indent=2) + "\n" if output_format is ReportFormat.json else plan_text(made)
        )
        return
    if shutil.which(TALOSCTL) is None:
        raise BadInput(f"{TALOSCTL}: not found on PATH; plan --run runs it (or run the printed plan yourself)")

    def report(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()  # before the next command writes to the same terminal

    run_plan(made, report)
