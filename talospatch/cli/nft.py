"""``talospatch nft``: the nftables ruleset Talos builds from the documents."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from talospatch.cli.app import command_app
from talospatch.cli.formats import NftFormat
from talospatch.cli.node import NodeIp, NodeName, NoHostDns, NoKubeProxy, Patches, ServiceSubnet, node_firewall
from talospatch.cli.params import gen_options
from talospatch.generate.options import GenOptions

app = command_app("nft")


@app.command()
@gen_options(role_required=False)
def nft(
    opts: GenOptions,
    patches: Patches = None,
    node_ip: NodeIp = None,
    node_name: NodeName = None,
    service_subnet: ServiceSubnet = None,
    no_host_dns: NoHostDns = False,
    no_kube_proxy: NoKubeProxy = False,
    comments: Annotated[bool, typer.Option("--comments", help="Name each rule's origin in an nft comment.")] = False,
    output_format: Annotated[
        NftFormat,
        typer.Option(
            "--format",
            help="nft: the ruleset for nft -f; resource: the NfTablesChain resources as talosctl get nftableschains "
            "-o yaml prints them.",
        ),
    ] = NftFormat.nft,
) -> None:
    """Print the nftables ruleset Talos builds from the documents (load it with nft -f)."""
    from talospatch.nft.compile import compile_firewall
    from talospatch.nft.resources import resource_text
    from talospatch.nft.text import render

    node = node_firewall(patches, opts, node_ip, service_subnet, no_host_dns, node_name, no_kube_proxy)
    if output_format is NftFormat.resource:
        sys.stdout.write(resource_text(node.firewall, node.context, node.version))
    else:
        sys.stdout.write(render(compile_firewall(node.firewall, node.context, node.version), comments=comments))
