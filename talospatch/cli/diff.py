"""``talospatch diff OLD NEW``: what a change of firewall documents does to traffic."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app, warn
from talospatch.cli.node import NodeIp, NoHostDns, ServiceSubnet
from talospatch.errors import BadInput
from talospatch.generate.options import TALOS_VERSION_HELP

FORMATS = ("text", "markdown", "json")

Side = Annotated[str, typer.Argument(metavar="OLD", help="Patch file, machine config or '-' for stdin.")]
NewSide = Annotated[str, typer.Argument(metavar="NEW", help="Patch file, machine config or '-' for stdin.")]
Format = Annotated[
    str, typer.Option("--format", metavar="FORMAT", help="text (default), markdown (a PR comment) or json.")
]
PodSubnet = Annotated[
    list[str] | None,
    typer.Option("--pod-subnet", metavar="CIDR", help="Pod subnet, CIDR (repeatable; default 10.244.0.0/16)."),
]


app = command_app("diff")


@app.command()
def diff(
    old: Side,
    new: NewSide,
    output_format: Format = "text",
    node_ip: NodeIp = None,
    pod_subnet: PodSubnet = None,
    service_subnet: ServiceSubnet = None,
    no_host_dns: NoHostDns = False,
    talos_version: Annotated[
        str | None, typer.Option("--talos-version", metavar="X.Y[.Z]", help=TALOS_VERSION_HELP)
    ] = None,
) -> None:
    """Which sources gain or lose which ports. Exit 0 when traffic is unchanged, 1 when it changes."""
    import json

    from talospatch.checks.diff import render_markdown, render_text, traffic_diff
    from talospatch.cli.params import LABELS
    from talospatch.workflows.node import NodeOptions, node_firewall

    if output_format not in FORMATS:
        raise BadInput(f"--format {output_format!r} is not a format; valid: {', '.join(FORMATS)}")
    if old == "-" and new == "-":
        raise BadInput("only one of OLD and NEW can be '-' (standard input)")
    node = NodeOptions(
        node_ips=tuple(node_ip or ()),
        pod_subnets=tuple(pod_subnet or ()),
        service_subnets=tuple(service_subnet or ()),
        host_dns=not no_host_dns,
        talos_version=talos_version,
    )
    before = node_firewall([old], node, LABELS)
    after = node_firewall([new], node, LABELS)
    for message in after.warnings:
        warn(message)
    changes = traffic_diff(before.firewall, after.firewall, after.context, talos_version=after.version)
    if output_format == "markdown":
        sys.stdout.write(render_markdown(changes, f"Firewall traffic changes: {old} → {new}"))
    elif output_format == "json":
        records = [
            {
                "change": "gains" if c.gained else "loses",
                "sources": [str(n) for n in c.sources],
                "ports": c.ports.label,
                "protocol": c.protocol,
                "rule": c.rule,
            }
            for c in changes
        ]
        sys.stdout.write(json.dumps({"old": old, "new": new, "changes": records}, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(changes))
    if changes:
        raise typer.Exit(1)
