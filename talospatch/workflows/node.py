"""One node's firewall and its surroundings, from patch files or from gen's options.

``nft``, ``query`` and the workflows that compare or explain a ruleset start here: the
documents (merged from patch files as talosctl merges them, or generated) and the node
context the compiler needs beside them (addresses, pod and service subnets, host DNS).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from talospatch.checks.lint.context import node_context
from talospatch.errors import BadInput
from talospatch.generate.expand import expand
from talospatch.generate.options import FIELD_NAMES, GenOptions, Labels
from talospatch.nft.compile import NodeContext
from talospatch.talos.addresses import parse_address, parse_network
from talospatch.talos.context import COMMAND_LINE, ConfigContext, Given, config_context, overridden
from talospatch.talos.documents import Firewall, apply_patches
from talospatch.talos.patchfiles import read_patches, read_text
from talospatch.talos.versions import DEFAULT_VERSION, TalosVersion, parse_talos_version
from talospatch.yamlio import load_all


@dataclass(frozen=True)
class NodeOptions:
    """What the documents do not carry, as strings; empty means Talos's default.

    ``pod_subnets`` applies to patch files; generated documents bring their own.
    """

    node_ips: tuple[str, ...] = ()
    pod_subnets: tuple[str, ...] = ()
    service_subnets: tuple[str, ...] = ()
    host_dns: bool = True
    # False: the command line says kube-proxy is off (--no-kube-proxy).
    kube_proxy: bool = True
    # The Talos release (X.Y, X.Y.Z or main); None: the newest one known.
    talos_version: str | None = None


@dataclass(frozen=True)
class NodeFirewall:
    firewall: Firewall
    context: NodeContext
    warnings: list[str] = field(default_factory=list)
    version: TalosVersion = DEFAULT_VERSION
    # Where the context came from (the node's config, or a flag over it), for stderr.
    notes: list[str] = field(default_factory=list)


def _context(node: NodeOptions, labels: Labels) -> NodeContext:
    """The node's addresses, service subnets and host DNS setting, parsed."""
    services = tuple(parse_network(s, labels("service_subnets"), allow_address=False) for s in node.service_subnets)
    context = NodeContext(
        node_ips=tuple(parse_address(a, labels("node_ips")) for a in node.node_ips),
        host_dns=node.host_dns,
    )
    return dataclasses.replace(context, service_subnets=services) if services else context


def node_firewall(source: Sequence[str] | GenOptions, node: NodeOptions, labels: Labels = FIELD_NAMES) -> NodeFirewall:
    """The firewall of patch files (``-`` is stdin) or of gen's options, and its node."""
    context = _context(node, labels)
    if isinstance(source, GenOptions):
        generated = expand(source, labels=labels)
        context = dataclasses.replace(context, pod_subnets=generated.pod_subnets)
        own = dataclasses.replace(node, pod_subnets=())  # the generated documents bring their own
        return _surroundings(
            generated.firewall, context, ConfigContext(), own, labels, generated.warnings, generated.version
        )
    version = parse_talos_version(node.talos_version)
    patches = read_patches(source)
    firewall = apply_patches(patches)
    config = config_context(((where, doc) for where, docs in patches for doc in docs), version.version)
    warnings = [version.warning] if version.warning else []
    return _surroundings(firewall, context, config, node, labels, warnings, version.version)


def _surroundings(
    firewall: Firewall,
    context: NodeContext,
    config: ConfigContext,
    node: NodeOptions,
    labels: Labels,
    warnings: list[str],
    version: TalosVersion,
) -> NodeFirewall:
    """The node around ``firewall``: the config's context under the flags, with the notes,
    and the NodePort bypass warning when kube-proxy is off."""
    context, notes, config = with_config(context, config, node, labels)
    if config.kube_proxy is not None and not config.kube_proxy.value:
        warnings = [*warnings, kube_proxy_warning(config)]
    return NodeFirewall(firewall, context, warnings, version, notes)


def kube_proxy_warning(config: ConfigContext) -> str:
    """The NodePort bypass warning of a node whose config turns kube-proxy off."""
    proxy = config.kube_proxy
    source = "the config" if proxy is None else proxy.key if proxy.where == COMMAND_LINE else proxy.source
    return (
        f"kube-proxy is off ({source}): the CNI's kube-proxy replacement handles NodePort traffic in eBPF "
        "before nftables, so it bypasses the Talos firewall and NodePort rules filter nothing"
    )


def with_config(
    context: NodeContext, config: ConfigContext, node: NodeOptions, labels: Labels = FIELD_NAMES
) -> tuple[NodeContext, list[str], ConfigContext]:
    """``context`` with what the node's config says where no flag says otherwise, the notes
    saying where each value came from (a flag wins over the config, with a note), and the
    config with the flags in it."""
    given = Given(
        pod_subnets=tuple(parse_network(p, labels("pod_subnets"), allow_address=False) for p in node.pod_subnets),
        service_subnets=tuple(
            parse_network(s, labels("service_subnets"), allow_address=False) for s in node.service_subnets
        ),
        no_host_dns=not node.host_dns,
        no_kube_proxy=not node.kube_proxy,
    )
    config, notes = overridden(config, given, labels)
    return node_context(context, config), notes, config


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


def spec_firewall(
    path: str, role: str, node: NodeOptions, labels: Labels = FIELD_NAMES, node_name: str | None = None
) -> NodeFirewall:
    """One role of a cluster spec, or one of its nodes (``node_name``), as ``build`` generates it, and its node.

    A node's address is its node IP.
    """
    from talospatch.spec.load import load_spec
    from talospatch.spec.nodes import find_node, node_request

    loaded = load_spec(path)
    if node_name is not None:
        found = find_node(loaded, node_name)
        if role and role != found.role:
            raise BadInput(f"--node {node_name} is a {found.role} node of {path}, not {role}; leave out --role")
        request = node_request(loaded, found).request
        node = dataclasses.replace(node, node_ips=(found.address,))
    elif role not in loaded.roles:
        raise BadInput(f"{path}: the spec builds {', '.join(loaded.roles)}, not role {role!r}")
    else:
        request = loaded.request(role)
    services = node.service_subnets or tuple(loaded.spec.service_subnets or ())
    spec_node = dataclasses.replace(node, service_subnets=services, talos_version=None)
    generated = expand(request.options, request.catalog, request.labels)
    context = dataclasses.replace(_context(spec_node, labels), pod_subnets=generated.pod_subnets)
    # The generated documents bring their own pods; the flags say the rest.
    own = dataclasses.replace(spec_node, pod_subnets=())
    return _surroundings(
        generated.firewall, context, ConfigContext(), own, labels, generated.warnings, generated.version
    )
