"""``talospatch check FILE...``: the linter, one line per finding."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app
from talospatch.errors import BadInput

FORMATS = ("text", "json")

Files = Annotated[
    list[str],
    typer.Argument(
        metavar="FILE...",
        help="Patch files, machine configs or talosctl get machineconfig -o yaml output ('-' reads stdin).",
    ),
]
Repeated = list[str] | None


app = command_app("check")


@app.command()
def check(
    files: Files,
    output_format: Annotated[str, typer.Option("--format", metavar="FORMAT", help="text (default) or json.")] = "text",
    role: Annotated[
        str | None, typer.Option("--role", metavar="NAME", help="Check that the role profile's ports are allowed.")
    ] = None,
    cni: Annotated[
        str | None, typer.Option("--cni", metavar="NAME", help="Check that the CNI profile's ports are allowed.")
    ] = None,
    tunnel: Annotated[str | None, typer.Option("--tunnel", metavar="NAME", help="The CNI's tunnel (cilium).")] = None,
    addons: Annotated[
        Repeated,
        typer.Option("--with", metavar="ADDON", help="Add-on profile whose ports must be allowed (repeatable)."),
    ] = None,
    subnets: Annotated[
        Repeated,
        typer.Option("--subnet", metavar="CIDR", help="Node subnet (repeatable); both families = dual-stack."),
    ] = None,
    controlplane: Annotated[
        Repeated,
        typer.Option(
            "--controlplane", metavar="IP|CIDR", help="Control-plane address: etcd must be open to these only."
        ),
    ] = None,
    guard_from: Annotated[
        Repeated,
        typer.Option("--from", metavar="ADDRESS", help="Address that must keep apid (and 6443 on control planes)."),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge",
            help="The files are patches of one node, applied in order as talosctl does: check the firewall "
            "they make together (default: each file is a node of its own).",
        ),
    ] = False,
    profiles_dir: Annotated[
        str | None, typer.Option("--profiles-dir", metavar="DIR", help="Folder of extra or replacing profiles.")
    ] = None,
    talos_version: Annotated[
        str | None,
        typer.Option(
            "--talos-version",
            metavar="X.Y[.Z]",
            help="The Talos release the nodes run: only its hazards are reported (default: every release's).",
        ),
    ] = None,
) -> None:
    """Lint firewall documents. Exit 0 clean, 1 hazards found, 3 a file or document Talos rejects."""
    import json

    from talospatch.checks.lint.engine import check_merged, check_text, exit_code, lint_options
    from talospatch.cli.params import LABELS
    from talospatch.talos.patchfiles import read_text, source_name

    if output_format not in FORMATS:
        raise BadInput(f"--format {output_format!r} is not a format; valid: {', '.join(FORMATS)}")
    if files.count("-") > 1:
        raise BadInput("'-' (standard input) can be given once")
    options = lint_options(
        role=role,
        cni=cni,
        tunnel=tunnel,
        addons=tuple(addons or ()),
        subnets=tuple(subnets or ()),
        controlplane=tuple(controlplane or ()),
        guard_from=tuple(guard_from or ()),
        profiles_dir=profiles_dir,
        talos_version=talos_version,
        labels=LABELS,
    )
    texts = [(path, read_text(path)) for path in files]
    named = [(source_name(path), text) for path, text in texts]
    if merge:
        findings = check_merged(named, options)
    else:
        findings = [f for path, text in named for f in check_text(text, path, options)]
    if output_format == "json":
        document = {"files": len(files), "findings": [f.to_json() for f in findings]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        sys.stdout.write("".join(f"{f}\n" for f in findings))
    code = exit_code(findings)
    if code == 3:
        errors = sum(f.severity == "error" for f in findings)
        raise BadInput(f"{errors} document(s) or file(s) that Talos would reject; see the findings above")
    if code:
        raise typer.Exit(code)
