"""One node's firewall and its surroundings, from patch files or from gen's options.

``nft``, ``query`` and the workflows that compare or explain a ruleset start here: the
documents (merged from patch files as talosctl merges them, or generated) and the node
context the compiler needs beside them (addresses, pod and service subnets, host DNS,
kube-proxy). Patch files that are machine configs say much of that themselves
(``talospatch.talos.context``); a flag wins over them, with a note.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from talospatch.errors import BadInput
from talospatch.generate.expand import expand
from talospatch.generate.options import FIELD_NAMES, GenOptions, Labels
from talospatch.nft.compile import NodeContext, with_cluster
from talospatch.talos.addresses import parse_address, parse_network
from talospatch.talos.context import ConfigContext, Given, nodeport_bypass, read_context, resolve
from talospatch.talos.documents import Firewall
from talospatch.talos.patchfiles import firewall_of, read_patches, read_text
from talospatch.talos.versions import DEFAULT_VERSION, TalosVersion, parse_talos_version
from talospatch.yamlio import load_all


@dataclass(frozen=True)
class NodeOptions:
    """What the documents do not carry, as strings; empty means Talos's default.

    ``pod_subnets`` applies to patch files; generated documents bring their own.
    ``host_dns``/``kube_proxy`` False: the flag that turns it off was given.
    """

    node_ips: tuple[str, ...] = ()
    pod_subnets: tuple[str, ...] = ()
    service_subnets: tuple[str, ...] = ()
    host_dns: bool = True
    kube_proxy: bool = True
    # The Talos release (X.Y, X.Y.Z or main); None: the newest one known.
    talos_version: str | None = None


@dataclass(frozen=True)
class NodeFirewall:
    firewall: Firewall
    context: NodeContext
    warnings: list[str] = field(default_factory=list)
    version: TalosVersion = DEFAULT_VERSION
    # Where the context came from: each value the documents gave, each flag that won over one.
    notes: list[str] = field(default_factory=list)


def _context(
    node: NodeOptions, labels: Labels, found: ConfigContext, base: NodeContext, firewall: Firewall
) -> tuple[NodeContext, list[str], list[str]]:
    """The node's addresses, and its subnets, host DNS and kube-proxy from the flags over
    the documents' values (``found``) over ``base``; with the warnings and the notes."""
    given = Given(
        pod_subnets=tuple(parse_network(p, labels("pod_subnets"), allow_address=False) for p in node.pod_subnets),
        service_subnets=tuple(
            parse_network(s, labels("service_subnets"), allow_address=False) for s in node.service_subnets
        ),
        no_host_dns=not node.host_dns,
        no_kube_proxy=not node.kube_proxy,
    )
    cluster = resolve(found, given, labels)
    nodes = tuple(parse_address(a, labels("node_ips")) for a in node.node_ips)
    context = with_cluster(dataclasses.replace(base, node_ips=nodes), cluster)
    warnings = [nodeport_bypass(cluster.kube_proxy_off_by, firewall)] if cluster.kube_proxy_off_by else []
    return context, warnings, list(cluster.notes)


def node_firewall(source: Sequence[str] | GenOptions, node: NodeOptions, labels: Labels = FIELD_NAMES) -> NodeFirewall:
    """The firewall of patch files (``-`` is stdin) or of gen's options, and its node."""
    if isinstance(source, GenOptions):
        generated = expand(source, labels=labels)
        base = NodeContext(pod_subnets=generated.pod_subnets)  # the generated documents' own
        context, warnings, notes = _context(
            dataclasses.replace(node, pod_subnets=()), labels, ConfigContext(), base, generated.firewall
        )
        return NodeFirewall(generated.firewall, context, [*generated.warnings, *warnings], generated.version, notes)
    version = parse_talos_version(node.talos_version)
    patches = read_patches(source)
    firewall = firewall_of(patches)
    found = read_context(document for _, documents in patches for document in documents)
    context, warnings, notes = _context(node, labels, found, NodeContext(), firewall)
    if version.warning:
        warnings.insert(0, version.warning)
    return NodeFirewall(firewall, context, warnings, version.version, notes)


def is_spec(path: str) -> bool:
    """Whether ``path`` is a cluster spec (``talospatch.yaml``) rather than a patch or config:
    one YAML mapping whose keys are all spec keys."""
    from talospatch.spec.model import SPEC_KEYS

    if path == "-":
        return False
    try:
        documents = load_all(read_text(path), path)
    except BadInput:
        return False
    return len(documents) == 1 and isinstance(documents[0], dict) and set(documents[0]) <= SPEC_KEYS


def spec_firewall(path: str, role: str, node: NodeOptions, labels: Labels = FIELD_NAMES) -> NodeFirewall:
    """One role of a cluster spec, as ``build`` generates it, and its node."""
    from talospatch.spec.model import load_spec

    loaded = load_spec(path)
    if role not in loaded.roles:
        raise BadInput(f"{path}: the spec builds {', '.join(loaded.roles)}, not role {role!r}")
    request = loaded.request(role)
    services = node.service_subnets or tuple(loaded.spec.service_subnets or ())
    spec_node = dataclasses.replace(node, pod_subnets=(), service_subnets=services, talos_version=None)
    generated = expand(request.options, request.catalog, request.labels)
    base = NodeContext(pod_subnets=generated.pod_subnets)
    context, warnings, notes = _context(spec_node, labels, ConfigContext(), base, generated.firewall)
    return NodeFirewall(generated.firewall, context, [*generated.warnings, *warnings], generated.version, notes)
