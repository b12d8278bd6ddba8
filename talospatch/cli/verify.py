"""``talospatch verify``: the chains a live node built against what talospatch compiles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app, warn
from talospatch.cli.formats import ReportFormat
from talospatch.cli.node import NodeIp, NodeName, NoHostDns, NoKubeProxy, Patches, ServiceSubnet, node_firewall
from talospatch.cli.params import gen_options
from talospatch.generate.options import GenOptions

Live = Annotated[
    str,
    typer.Option(
        "--live",
        metavar="FILE",
        help="talosctl get nftableschains -o yaml (or -o json) output; '-' reads stdin.",
    ),
]
Format = Annotated[ReportFormat, typer.Option("--format", help="text for people, json for machines.")]


app = command_app("verify")


@app.command()
@gen_options(role_required=False)
def verify(
    opts: GenOptions,
    live: Live,
    patches: Patches = None,
    node_ip: NodeIp = None,
    node_name: NodeName = None,
    service_subnet: ServiceSubnet = None,
    no_host_dns: NoHostDns = False,
    no_kube_proxy: NoKubeProxy = False,
    output_format: Format = ReportFormat.text,
) -> None:
    """Compare a node's nftables chains with the patch: exit 0 when equal, 1 when they differ."""
    import json

    from talospatch.live.verify import results_dict, verify
    from talospatch.nft.live import parse_live
    from talospatch.talos.patchfiles import read_text, source_name

    live_chains = parse_live(read_text(live), source_name(live))
    node = node_firewall(patches, opts, node_ip, service_subnet, no_host_dns, node_name, no_kube_proxy)
    results = verify(live_chains, node.firewall, node.context, node.version)
    if output_format is ReportFormat.json:
        sys.stdout.write(json.dumps(results_dict(results), indent=2) + "\n")
    else:
        for result in results:
            for note in result.notes:
                warn(note)
            prefix = f"{result.node}: " if len(results) > 1 and result.node else ""
            for line in result.lines():
                sys.stdout.write(f"{prefix}{line}\n")
    if not all(result.equal for result in results):
        raise typer.Exit(1)
