"""One node's firewall and its surroundings, from patch files or from gen's options.

``nft``, ``query`` and the workflows that compare or explain a ruleset start here: the
documents (merged from patch files as talosctl merges them, or generated) and the node
context the compiler needs beside them (addresses, pod and service subnets, host DNS).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from talospatch.errors import BadInput
from talospatch.generate.expand import expand
from talospatch.generate.options import FIELD_NAMES, GenOptions, Labels
from talospatch.nft.compile import NodeContext
from talospatch.talos.addresses import parse_address, parse_network
from talospatch.talos.context import ConfigContext, Sourced, config_context
from talospatch.talos.documents import Firewall, Network, apply_patches
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
        return NodeFirewall(generated.firewall, context, generated.warnings, generated.version)
    version = parse_talos_version(node.talos_version)
    patches = read_patches(source)
    firewall = apply_patches(patches)
    config = config_context((where, doc) for where, docs in patches for doc in docs)
    warnings = [version.warning] if version.warning else []
    if node.pod_subnets:
        pods = tuple(parse_network(p, labels("pod_subnets"), allow_address=False) for p in node.pod_subnets)
        context = dataclasses.replace(context, pod_subnets=pods)
    context, notes = with_config(context, config, node, labels)
    if config.kube_proxy is not None and not config.kube_proxy.value:
        warnings.append(kube_proxy_warning(config))
    return NodeFirewall(firewall, context, warnings, version.version, notes)


def kube_proxy_warning(config: ConfigContext) -> str:
    """The NodePort bypass warning of a node whose config turns kube-proxy off."""
    source = config.kube_proxy.source if config.kube_proxy else "the config"
    return (
        f"kube-proxy is off ({source}): the CNI's kube-proxy replacement handles NodePort traffic in eBPF "
        "before nftables, so it bypasses the Talos firewall and NodePort rules filter nothing"
    )


def with_config(
    context: NodeContext, config: ConfigContext, node: NodeOptions, labels: Labels = FIELD_NAMES
) -> tuple[NodeContext, list[str]]:
    """``context`` with what the node's config says where no flag says otherwise, and the notes
    saying where each value came from (a flag wins over the config, with a note)."""
    notes: list[str] = []
    pods = _subnets(config.pod_subnets, "pod subnets", labels("pod_subnets") if node.pod_subnets else None, notes)
    if pods is not None:
        context = dataclasses.replace(context, pod_subnets=pods)
    flag = labels("service_subnets") if node.service_subnets else None
    services = _subnets(config.service_subnets, "service subnets", flag, notes)
    if services is not None:
        context = dataclasses.replace(context, service_subnets=services)
    if config.host_dns is not None:
        state = "on" if config.host_dns.value else "off"
        if not node.host_dns and config.host_dns.value:
            notes.append(f"--no-host-dns wins over host DNS {state} from {config.host_dns.source}")
        else:
            context = dataclasses.replace(context, host_dns=config.host_dns.value)
            notes.append(f"host DNS {state} from {config.host_dns.source}")
    if config.kube_proxy is not None:
        notes.append(f"kube-proxy {'on' if config.kube_proxy.value else 'off'} from {config.kube_proxy.source}")
        if not config.kube_proxy.value:
            context = dataclasses.replace(context, nodeport_range=None)
    return context, notes


def _subnets(
    item: Sourced[tuple[Network, ...]] | None, name: str, flag: str | None, notes: list[str]
) -> tuple[Network, ...] | None:
    """The config's subnets unless ``flag`` was given (then a note says it wins)."""
    if item is None:
        return None
    shown = ", ".join(str(n) for n in item.value)
    notes.append(
        f"{flag} wins over {name} {shown} from {item.source}" if flag else f"{name} {shown} from {item.source}"
    )
    return None if flag else item.value


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
    return NodeFirewall(generated.firewall, context, generated.warnings, generated.version)
