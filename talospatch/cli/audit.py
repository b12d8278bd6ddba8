"""``talospatch audit``: what a node listens on, joined with who the firewall lets reach it."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app
from talospatch.cli.formats import ReportFormat
from talospatch.cli.node import NodeIp, NodeName, NoHostDns, NoKubeProxy, Patches, ServiceSubnet, node_firewall
from talospatch.cli.params import gen_options
from talospatch.generate.options import GenOptions

Netstat = Annotated[
    str, typer.Option("--netstat", metavar="FILE", help="talosctl netstat -l -p output; '-' reads stdin.")
]
Format = Annotated[ReportFormat, typer.Option("--format", help="text (a table) for people, json for machines.")]


app = command_app("audit")


@app.command()
@gen_options(role_required=False)
def audit(
    opts: GenOptions,
    netstat: Netstat,
    patches: Patches = None,
    node_ip: NodeIp = None,
    node_name: NodeName = None,
    service_subnet: ServiceSubnet = None,
    no_host_dns: NoHostDns = False,
    no_kube_proxy: NoKubeProxy = False,
    output_format: Format = ReportFormat.text,
) -> None:
    """Per listening socket: who may reach it; listeners no rule opens; rules nobody listens behind."""
    import json

    from talospatch.live.audit import audit_nodes, results_dict, table_text
    from talospatch.live.netstat import listeners, parse_netstat
    from talospatch.talos.patchfiles import read_text, source_name

    sockets = listeners(parse_netstat(read_text(netstat), source_name(netstat)))
    node = node_firewall(patches, opts, node_ip, service_subnet, no_host_dns, node_name, no_kube_proxy)
    results = audit_nodes(sockets, node.firewall, node.context, node.version)
    if output_format is ReportFormat.json:
        sys.stdout.write(json.dumps(results_dict(results), indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(table_text(result) for result in results))
