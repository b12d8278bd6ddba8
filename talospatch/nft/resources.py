"""Talos's ``NfTablesChain`` resources: what ``talosctl get nftableschains`` prints.

A node keeps its firewall as ``NfTablesChains.net.talos.dev`` resources (namespace
``network``), one per chain, built by ``NfTablesChainConfigController``. Their spec is one
level above nftables: a rule holds the source *subnets* of a NetworkRuleConfig (include,
exclude, invert) and its sorted, unmerged port ranges; the per-family split and port
merging happen later, when the chain is applied. This module

- builds those resources for a firewall (``expected_chains``), from the chains
  ``talospatch.nft.compile.compile_firewall`` compiles (so the chains, their priorities and the
  built-in rules follow the modelled Talos release) and from the documents (so the subnets
  and ports are the ones Talos copies into the spec);
- renders them exactly as ``talosctl get nftableschains -o yaml`` prints them
  (``render_resources``).

``talospatch.nft.live`` reads what a node printed into the same model.

Formats read from the Talos sources (``pkg/machinery/resources/network/nftables_chain.go``,
``cmd/talosctl/cmd/talos/output/{yaml,json}.go``, ``nethelpers`` enumer names), main at
``ad8823176`` and tags through v1.14.0-rc.1. Pure: no printing, no files.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from talospatch.nft.compile import (
    HOST_DNS_V4,
    HOST_DNS_V6,
    ORIGIN_BLOCK_NEW,
    ORIGIN_HOST_DNS,
    ORIGIN_NOT_TO_NODE,
    ORIGIN_POD_SERVICE,
    Chain,
    NftRule,
    NodeContext,
    Ruleset,
    compile_firewall,
)
from talospatch.nft.sets import AddressSet
from talospatch.talos.documents import Firewall, Network, PortRange
from talospatch.talos.versions import TalosVersion

RESOURCE_TYPE = "NfTablesChains.net.talos.dev"
NAMESPACE = "network"
OWNER = "network.NfTablesChainConfigController"

# nethelpers.NfTablesChainPriority: the named values (enumer -linecomment); any other
# value prints as NfTablesChainPriority(<n>).
PRIORITY_NAMES: dict[int, str] = {
    -2147483648: "first",
    -400: "conntrack-defrag",
    -300: "raw",
    -225: "selinux-first",
    -200: "conntrack",
    -150: "mangle",
    -100: "nat-dest",
    0: "filter",
    50: "security",
    100: "nat-source",
    225: "selinux-last",
    300: "conntrack-helper",
    2147483647: "last",
}

ICMP_TYPE_NUMBERS: dict[str, int] = {
    "timestamp-request": 13,
    "timestamp-reply": 14,
    "address-mask-request": 17,
    "address-mask-reply": 18,
}
_NFT_TO_PROTOCOL = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmpv6"}


def priority_text(priority: int) -> str:
    """A priority as talosctl prints it: ``mangle``, ``filter``, ``NfTablesChainPriority(-140)``."""
    return PRIORITY_NAMES.get(priority, f"NfTablesChainPriority({priority})")


# --------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class AddressMatch:
    """``NfTablesAddressMatch``: the subnets as written, the excluded ones, ``invert``."""

    include: tuple[Network, ...] = ()
    exclude: tuple[Network, ...] = ()
    invert: bool = False


@dataclass(frozen=True)
class ResourceRule:
    """One ``NfTablesRule`` of a chain's spec.

    ``iifnames`` is ``None`` when the rule has no interface match. ``other`` keeps the
    matches talospatch does not model (``matchOIfName``, ``matchMark``, ``setMark``,
    ``clampMSS``, source ports), as ``(key, compact JSON)``, so they still compare.
    ``origin``/``rule_name`` say where an expected rule comes from (``None`` for a rule
    read from a node: rules carry no names there); they take no part in equality.
    """

    verdict: str | None = None
    iifnames: tuple[str, ...] | None = None
    iif_operator: str = "=="
    ct_states: tuple[str, ...] = ()
    source: AddressMatch | None = None
    destination: AddressMatch | None = None
    protocol: str | None = None
    dports: tuple[PortRange, ...] = ()
    icmp_types: tuple[int, ...] = ()
    limit: int | None = None
    counter: bool = False
    other: tuple[tuple[str, str], ...] = ()
    origin: str | None = field(default=None, compare=False)
    rule_name: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ResourceChain:
    """One ``NfTablesChain`` resource: its id, the spec, and (from a node) the node name."""

    id: str
    type: str
    hook: str
    priority: int
    policy: str
    rules: tuple[ResourceRule, ...]
    node: str | None = field(default=None, compare=False)
    version: int | None = field(default=None, compare=False)
    created: str | None = field(default=None, compare=False)
    updated: str | None = field(default=None, compare=False)


# --------------------------------------------------------------------------------------
# What Talos builds for a firewall


def compile_ruleset(fw: Firewall, ctx: NodeContext, version: TalosVersion | str | None = None) -> Ruleset:
    """``compile_firewall`` for that Talos release (the newest one known when ``None``)."""
    return compile_firewall(fw, ctx, version)


def _prefixes(aset: AddressSet) -> list[Network]:
    out: list[Network] = []
    for first, last in aset.address_ranges:
        out.extend(ipaddress.summarize_address_range(first, last))
    return out


def _generic_addresses(rules: Sequence[NftRule], key: str) -> AddressMatch | None:
    """An address match rebuilt from compiled sets (for built-in rules not modelled here)."""
    sets = [getattr(rule, key) for rule in rules if getattr(rule, key) is not None]
    if not sets:
        return None
    include = tuple(net for aset in sets for net in _prefixes(aset))
    return AddressMatch(include, (), invert=any(aset.invert for aset in sets))


def _builtin_rule(rules: Sequence[NftRule], ctx: NodeContext) -> ResourceRule:
    """The spec rule behind one or two compiled rules (its IPv4 and IPv6 parts)."""
    first = rules[0]
    k8s = tuple(ctx.pod_subnets) + tuple(ctx.service_subnets)
    source = _generic_addresses(rules, "saddr")
    destination = _generic_addresses(rules, "daddr")
    if first.origin == ORIGIN_HOST_DNS:
        dns: tuple[Network, ...] = (HOST_DNS_V4,)
        if any(r.daddr is not None and r.daddr.family == "ipv6" for r in rules):
            dns += tuple(HOST_DNS_V6 for pod in ctx.pod_subnets if pod.version == 6)
        source, destination = AddressMatch(k8s), AddressMatch(dns)
    elif first.origin == ORIGIN_POD_SERVICE:
        source, destination = AddressMatch(k8s), AddressMatch(k8s)
    elif first.origin == ORIGIN_NOT_TO_NODE:
        node = tuple(ipaddress.ip_network(ip) for ip in ctx.node_ips)
        destination = AddressMatch(node, invert=True)
    return ResourceRule(
        verdict=first.verdict,
        iifnames=first.iifnames or None,
        ct_states=first.ct_states,
        source=source,
        destination=destination,
        protocol=None if first.l4proto is None else _NFT_TO_PROTOCOL[first.l4proto],
        dports=first.dports,
        icmp_types=tuple(ICMP_TYPE_NUMBERS[t] for t in first.icmp_types),
        limit=first.limit_per_second,
        counter=first.counter,
        origin=first.origin,
    )


def _group_key(rule: NftRule) -> tuple[object, ...]:
    return (rule.origin, rule.verdict, rule.iifnames, rule.ct_states, rule.l4proto, rule.dports, rule.icmp_types)


def _builtins(rules: Iterable[NftRule], ctx: NodeContext) -> list[ResourceRule]:
    """Consecutive compiled rules of one origin and the same matches are one spec rule."""
    groups: list[list[NftRule]] = []
    for rule in rules:
        if groups and _group_key(groups[-1][0]) == _group_key(rule) and len(groups[-1]) < 2:
            groups[-1].append(rule)
        else:
            groups.append([rule])
    return [_builtin_rule(group, ctx) for group in groups]


def _document_rules(fw: Firewall, chain: Chain) -> list[ResourceRule]:
    block = fw.default_action == "block"
    ct_states = ("new",) if chain.hook == "prerouting" else ()
    return [
        ResourceRule(
            verdict="accept" if block else "drop",
            ct_states=ct_states,
            source=AddressMatch(tuple(rule.subnets), tuple(rule.excepts), invert=not block),
            protocol=rule.protocol,
            dports=tuple(sorted(rule.ports, key=lambda p: p.lo)),
            counter=True,
            origin=rule.doc_id,
            rule_name=rule.name,
        )
        for rule in fw.rules
    ]


def expected_chains(
    fw: Firewall, ctx: NodeContext | None = None, version: TalosVersion | str | None = None
) -> tuple[ResourceChain, ...]:
    """The ``NfTablesChain`` resources Talos builds for these documents on this node.

    The chains and built-in rules come from ``compile_firewall`` (for ``version`` when
    given); the document rules from the documents themselves, one spec rule each (also the
    ones that compile to no nft rule, such as a rule with no ingress subnets).
    """
    ctx = NodeContext() if ctx is None else ctx
    ruleset = compile_ruleset(fw, ctx, version)
    chains: list[ResourceChain] = []
    for chain in ruleset.chains:
        head = [r for r in chain.rules if r.rule_name is None and r.origin != ORIGIN_BLOCK_NEW]
        tail = [r for r in chain.rules if r.rule_name is None and r.origin == ORIGIN_BLOCK_NEW]
        rules = _builtins(head, ctx) + _document_rules(fw, chain) + _builtins(tail, ctx)
        chains.append(ResourceChain(chain.name, chain.type, chain.hook, chain.priority, chain.policy, tuple(rules)))
    return tuple(chains)


# --------------------------------------------------------------------------------------
# Rendering (talosctl -o yaml: go.yaml.in/yaml/v4, 4-space indents)


def _rule_lines(rule: ResourceRule) -> list[tuple[str, list[str]]]:
    """``(key, nested lines)`` pairs of one rule, in the spec's field order."""

    def seq(items: Iterable[object]) -> list[str]:
        return [f"    - {item}" for item in items]

    def address(match: AddressMatch) -> list[str]:
        lines: list[str] = []
        if match.include:
            lines += ["includeSubnets:", *seq(match.include)]
        if match.exclude:
            lines += ["excludeSubnets:", *seq(match.exclude)]
        if match.invert:
            lines.append("invert: true")
        return lines

    out: list[tuple[str, list[str]]] = []
    if rule.iifnames is not None:
        operator = "'!='" if rule.iif_operator == "!=" else rule.iif_operator
        out.append(("matchIIfName", ["interfaceName:", *seq(rule.iifnames), f"operator: {operator}"]))
    if rule.ct_states:
        out.append(("matchConntrackState", ["states:", *seq(rule.ct_states)]))
    if rule.source is not None:
        out.append(("matchSourceAddress", address(rule.source)))
    if rule.destination is not None:
        out.append(("matchDestinationAddress", address(rule.destination)))
    if rule.protocol is not None:
        lines = [f"protocol: {rule.protocol}"]
        if rule.dports:
            lines += ["matchDestinationPort:", "    ranges:"]
            for port in rule.dports:
                lines += [f"        - lo: {port.lo}", f"          hi: {port.hi}"]
        if rule.icmp_types:
            lines += ["matchICMPType:", f"    types: [{', '.join(str(t) for t in rule.icmp_types)}]"]
        out.append(("matchLayer4", lines))
    if rule.limit is not None:
        out.append(("matchLimit", [f"packetRatePerSecond: {rule.limit}"]))
    return out


def _render_rule(rule: ResourceRule, indent: str) -> list[str]:
    lines: list[str] = []
    for key, nested in _rule_lines(rule):
        lines.append(f"{key}:" if nested else f"{key}: {{}}")  # a match with every field empty
        lines.extend(f"  {line}" for line in nested)
    # Matches talospatch does not model, as JSON (valid YAML flow style).
    lines.extend(f"{key}: {value}" for key, value in rule.other)
    if rule.counter:
        lines.append("anonymousCounter: true")
    if rule.verdict is not None:
        lines.append(f"verdict: {rule.verdict}")
    if not lines:
        return [f"{indent}- {{}}"]
    return [f"{indent}- {lines[0]}"] + [f"{indent}  {line}" for line in lines[1:]]


def render_resources(
    chains: Iterable[ResourceChain],
    *,
    node: str = "talospatch",
    version: int = 1,
    timestamp: str = "1970-01-01T00:00:00Z",
) -> str:
    """The chains as ``talosctl get nftableschains -o yaml`` prints them.

    ``node``, ``version`` and the ``created``/``updated`` ``timestamp`` fill the parts only a
    node knows; a chain's own ``node``/``version`` win when set.
    """
    docs: list[str] = []
    for chain in chains:
        lines = [
            f"node: {chain.node if chain.node is not None else node}",
            "metadata:",
            f"    namespace: {NAMESPACE}",
            f"    type: {RESOURCE_TYPE}",
            f"    id: {chain.id}",
            f"    version: {chain.version if chain.version is not None else version}",
            f"    owner: {OWNER}",
            "    phase: running",
            f"    created: {chain.created or timestamp}",
            f"    updated: {chain.updated or timestamp}",
            "spec:",
            f"    type: {chain.type}",
            f"    hook: {chain.hook}",
            f"    priority: {priority_text(chain.priority)}",
            f"    policy: {chain.policy}",
        ]
        if chain.rules:
            lines.append("    rules:")
            for rule in chain.rules:
                lines.extend(_render_rule(rule, "        "))
        else:
            lines.append("    rules: []")
        docs.append("\n".join(lines) + "\n")
    return "---\n".join(docs)


def resource_text(
    fw: Firewall, ctx: NodeContext | None = None, version: TalosVersion | str | None = None, *, node: str = "talospatch"
) -> str:
    """``nft --format resource``: the firewall's chains as talosctl prints a node's."""
    return render_resources(expected_chains(fw, ctx, version), node=node)
