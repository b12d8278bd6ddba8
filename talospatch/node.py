"""One node's firewall and its surroundings, from patch files or from gen's options.

``nft``, ``query`` and the workflows that compare or explain a ruleset start here: the
documents (merged from patch files as talosctl merges them, or generated) and the node
context the compiler needs beside them (addresses, pod and service subnets, host DNS).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from talospatch.addresses import parse_address, parse_network
from talospatch.expand import expand
from talospatch.nft import NodeContext
from talospatch.options import FIELD_NAMES, GenOptions, Labels
from talospatch.patchfiles import load_firewall
from talospatch.talosdocs import Firewall
from talospatch.versions import DEFAULT_VERSION, TalosVersion, parse_talos_version


@dataclass(frozen=True)
class NodeOptions:
    """What the documents do not carry, as strings; empty means Talos's default.

    ``pod_subnets`` applies to patch files; generated documents bring their own.
    """

    node_ips: tuple[str, ...] = ()
    pod_subnets: tuple[str, ...] = ()
    service_subnets: tuple[str, ...] = ()
    host_dns: bool = True
    # The Talos release (X.Y, X.Y.Z or main); None: the newest one known.
    talos_version: str | None = None


@dataclass(frozen=True)
class NodeFirewall:
    firewall: Firewall
    context: NodeContext
    warnings: list[str] = field(default_factory=list)
    version: TalosVersion = DEFAULT_VERSION


def node_firewall(source: Sequence[str] | GenOptions, node: NodeOptions, labels: Labels = FIELD_NAMES) -> NodeFirewall:
    """The firewall of patch files (``-`` is stdin) or of gen's options, and its node."""
    services = tuple(parse_network(s, labels("service_subnets"), allow_address=False) for s in node.service_subnets)
    context = NodeContext(
        node_ips=tuple(parse_address(a, labels("node_ips")) for a in node.node_ips),
        host_dns=node.host_dns,
    )
    if services:
        context = dataclasses.replace(context, service_subnets=services)
    if isinstance(source, GenOptions):
        generated = expand(source, labels=labels)
        context = dataclasses.replace(context, pod_subnets=generated.pod_subnets)
        return NodeFirewall(generated.firewall, context, generated.warnings, generated.version)
    version = parse_talos_version(node.talos_version)
    firewall = load_firewall(source)
    if node.pod_subnets:
        pods = tuple(parse_network(p, labels("pod_subnets"), allow_address=False) for p in node.pod_subnets)
        context = dataclasses.replace(context, pod_subnets=pods)
    return NodeFirewall(firewall, context, [version.warning] if version.warning else [], version.version)
