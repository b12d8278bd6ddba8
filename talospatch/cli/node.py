"""The options of ``nft`` and ``query`` that describe the node: its firewall and surroundings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from talospatch.cli.app import note, warn
from talospatch.cli.params import LABELS, refuse_beside_patch_files
from talospatch.errors import BadInput
from talospatch.generate.options import GenOptions

if TYPE_CHECKING:
    from talospatch.workflows.node import NodeFirewall

Patches = Annotated[
    list[str] | None,
    typer.Argument(metavar="[PATCH]...", help="Patch files applied in order, as talosctl would ('-' reads stdin)."),
]
NodeIp = Annotated[
    list[str] | None,
    typer.Option(
        "--node-ip", metavar="IP", help="The node's address (repeatable); without one Talos builds no prerouting chain."
    ),
]
ServiceSubnet = Annotated[
    list[str] | None,
    typer.Option("--service-subnet", metavar="CIDR", help="Service subnet, CIDR (repeatable; default 10.96.0.0/12)."),
]
NodeName = Annotated[
    str | None,
    typer.Option(
        "--node",
        metavar="NAME",
        help="With a cluster spec: the node of that name, its patch and its address as --node-ip.",
    ),
]
NoHostDns = Annotated[
    bool,
    typer.Option(
        "--no-host-dns",
        help="The cluster has forwardKubeDNSToHost off (default: what a machine config given says, else on).",
    ),
]
NoKubeProxy = Annotated[
    bool,
    typer.Option(
        "--no-kube-proxy",
        help="The cluster runs without kube-proxy (e.g. Cilium's replacement), so NodePorts bypass the firewall "
        "(default: what a machine config given says; a worker's does not say).",
    ),
]


def node_firewall(
    patches: list[str] | None,
    opts: GenOptions,
    node_ip: list[str] | None,
    service_subnet: list[str] | None,
    no_host_dns: bool,
    node_name: str | None = None,
    no_kube_proxy: bool = False,
) -> NodeFirewall:
    """The firewall from patch files or from gen's options (warnings printed), and its node."""
    from talospatch.workflows.node import NodeOptions, is_spec, node_firewall, spec_firewall

    spec = patches[0] if patches and len(patches) == 1 and is_spec(patches[0]) else None
    if node_name is not None:
        if spec is None:
            raise BadInput(f"--node {node_name}: give the cluster spec that names the node (talospatch.yaml)")
        if node_ip:
            raise BadInput(f"--node {node_name} gives the node's address; leave out --node-ip")
    if spec is not None:
        if not opts.role and node_name is None:
            raise BadInput(f"{spec} is a cluster spec: give --role with the role to look at, or --node NAME")
        # The spec holds the cluster's options: only the node's may be given beside it.
        cluster = opts._replace(role="", pod_subnets=(), talos_version=None)
        refuse_beside_patch_files(cluster, "a cluster spec")
    elif patches:
        refuse_beside_patch_files(opts)
    elif not opts.role:
        raise BadInput("give patch files (or - for stdin), or --role and --subnet as for gen")
    node = NodeOptions(
        node_ips=tuple(node_ip or ()),
        pod_subnets=opts.pod_subnets,
        service_subnets=tuple(service_subnet or ()),
        host_dns=not no_host_dns,
        kube_proxy=not no_kube_proxy,
        talos_version=opts.talos_version,
    )
    if spec is not None:
        result = spec_firewall(spec, opts.role, node, LABELS, node_name)
    else:
        result = node_firewall(patches or opts, node, LABELS)
    for message in result.notes:
        note(message)
    for message in result.warnings:
        warn(message)
    return result
