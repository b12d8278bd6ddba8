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
  (``render_resources``);
- parses what a node printed, ``-o yaml`` or ``-o json`` (``parse_live``).

Formats read from the Talos sources (``pkg/machinery/resources/network/nftables_chain.go``,
``cmd/talosctl/cmd/talos/output/{yaml,json}.go``, ``nethelpers`` enumer names), main at
``ad8823176`` and tags through v1.14.0-rc.1. Pure: no printing, no files.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from talospatch.errors import BadInput
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
from talospatch.yamlio import load_all

RESOURCE_TYPE = "NfTablesChains.net.talos.dev"
NAMESPACE = "network"
OWNER = "network.NfTablesChainConfigController"
KUBESPAN_CHAINS = ("kubespan_prerouting", "kubespan_outgoing")

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
_PRIORITY_VALUES = {name: value for value, name in PRIORITY_NAMES.items()}
_PRIORITY_RE = re.compile(r"^NfTablesChainPriority\((-?\d+)\)$")

ICMP_TYPE_NUMBERS: dict[str, int] = {
    "timestamp-request": 13,
    "timestamp-reply": 14,
    "address-mask-request": 17,
    "address-mask-reply": 18,
}
_NFT_TO_PROTOCOL = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmpv6"}
PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6")
VERDICTS = ("accept", "drop")
CT_STATES = ("new", "related", "established", "invalid")
HOOKS = ("prerouting", "input", "forward", "output", "postrouting")
CHAIN_TYPES = ("filter", "route", "nat")


def priority_text(priority: int) -> str:
    """A priority as talosctl prints it: ``mangle``, ``filter``, ``NfTablesChainPriority(-140)``."""
    return PRIORITY_NAMES.get(priority, f"NfTablesChainPriority({priority})")


def parse_priority(value: object, where: str) -> int:
    """A priority printed by name (any case), as ``NfTablesChainPriority(-140)`` or as a number."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _PRIORITY_VALUES:
            return _PRIORITY_VALUES[text.lower()]
        match = _PRIORITY_RE.match(text)
        if match:
            return int(match.group(1))
        if re.fullmatch(r"-?\d+", text):
            return int(text)
    names = ", ".join(PRIORITY_NAMES.values())
    raise BadInput(f"{where}: priority {value!r} is not a number, NfTablesChainPriority(N) or one of {names}")


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


@dataclass(frozen=True)
class LiveChains:
    """What a file of ``talosctl get nftableschains`` output holds.

    ``chains``: the firewall chains (``ingress``, ``prerouting``, ...) of every node, in file
    order. ``ignored``: KubeSpan's chains, which KubeSpan owns (not compared).
    ``notes``: remarks on the file as a whole.
    """

    where: str
    chains: tuple[ResourceChain, ...]
    ignored: tuple[ResourceChain, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def nodes(self) -> list[str | None]:
        """The nodes in file order (``None`` for resources printed without ``node:``)."""
        return list(dict.fromkeys(chain.node for chain in self.chains + self.ignored))

    def of_node(self, node: str | None) -> tuple[ResourceChain, ...]:
        return tuple(chain for chain in self.chains if chain.node == node)

    def notes_of(self, node: str | None) -> tuple[str, ...]:
        """The file's notes and the ignored chains of ``node``."""
        ignored = tuple(
            f"KubeSpan chain {chain.id} ignored: KubeSpan owns it, not the ingress firewall"
            for chain in self.ignored
            if chain.node == node
        )
        return self.notes + ignored


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


# --------------------------------------------------------------------------------------
# Parsing a node's output


def _json_documents(text: str, where: str) -> list[Any]:
    """Concatenated JSON values (talosctl -o json prints one object per resource)."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return docs
        try:
            value, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        docs.append(value)


class _Reader:
    """Typed access to one resource's decoded data, with errors that say where."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, what: str) -> BadInput:
        return BadInput(f"{self.where}: {what}")

    def mapping(self, value: object, key: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{key} must be a mapping, not {type(value).__name__}")
        return value

    def items(self, value: object, key: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{key} must be a list, not {type(value).__name__}")
        return value

    def choice(self, value: object, key: str, allowed: Sequence[str]) -> str:
        if not isinstance(value, str) or value.lower() not in allowed:
            raise self.fail(f"{key} {value!r} is not one of {', '.join(allowed)}")
        return value.lower()

    def integer(self, value: object, key: str, low: int, high: int) -> int:
        if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(f"{key} {value!r} is not an integer {low}-{high}")
        return value

    def networks(self, value: object, key: str) -> tuple[Network, ...]:
        out: list[Network] = []
        for item in self.items(value, key):
            try:
                out.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                raise self.fail(f"{key}: {item!r} is not a CIDR prefix such as 10.0.0.0/8") from None
        return tuple(out)

    def address_match(self, value: object, key: str) -> AddressMatch:
        data = self.mapping({} if value is None else value, key)
        unknown = set(data) - {"includeSubnets", "excludeSubnets", "invert"}
        if unknown:
            raise self.fail(f"{key}: unknown key {sorted(unknown)[0]!r}")
        invert = data.get("invert", False)
        if not isinstance(invert, bool):
            raise self.fail(f"{key}.invert {invert!r} is not true or false")
        return AddressMatch(
            self.networks(data.get("includeSubnets"), f"{key}.includeSubnets"),
            self.networks(data.get("excludeSubnets"), f"{key}.excludeSubnets"),
            invert,
        )

    def ports(self, value: object, key: str) -> tuple[PortRange, ...]:
        data = self.mapping(value, key)
        out: list[PortRange] = []
        for item in self.items(data.get("ranges"), f"{key}.ranges"):
            entry = self.mapping(item, f"{key}.ranges[]")
            lo = self.integer(entry.get("lo"), f"{key}.ranges[].lo", 0, 65535)
            hi = self.integer(entry.get("hi"), f"{key}.ranges[].hi", 0, 65535)
            if lo > hi:
                raise self.fail(f"{key}: port range {lo}-{hi} ends before it starts")
            out.append(PortRange(lo, hi))
        return tuple(out)

    def rule(self, value: object, index: int) -> ResourceRule:
        key = f"rules[{index}]"
        data = self.mapping(value, key)
        fields: dict[str, Any] = {}
        other: list[tuple[str, str]] = []
        for name, item in data.items():
            if name == "matchIIfName":
                match = self.mapping(item, f"{key}.matchIIfName")
                fields["iifnames"] = tuple(str(n) for n in self.items(match.get("interfaceName"), "interfaceName"))
                fields["iif_operator"] = self.choice(
                    match.get("operator", "=="), f"{key}.matchIIfName.operator", ("==", "!=")
                )
            elif name == "matchConntrackState":
                match = self.mapping(item, f"{key}.matchConntrackState")
                states = self.items(match.get("states"), f"{key}.matchConntrackState.states")
                fields["ct_states"] = tuple(self.choice(s, f"{key} conntrack state", CT_STATES) for s in states)
            elif name == "matchSourceAddress":
                fields["source"] = self.address_match(item, f"{key}.matchSourceAddress")
            elif name == "matchDestinationAddress":
                fields["destination"] = self.address_match(item, f"{key}.matchDestinationAddress")
            elif name == "matchLayer4":
                self._layer4(item, key, fields, other)
            elif name == "matchLimit":
                match = self.mapping(item, f"{key}.matchLimit")
                fields["limit"] = self.integer(
                    match.get("packetRatePerSecond"), f"{key}.packetRatePerSecond", 0, 2**64 - 1
                )
            elif name == "anonymousCounter":
                fields["counter"] = bool(item)
            elif name == "verdict":
                fields["verdict"] = self.choice(item, f"{key}.verdict", VERDICTS)
            elif name in ("matchOIfName", "matchMark", "setMark", "clampMSS"):
                other.append((name, json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)))
            else:
                raise self.fail(f"{key}: unknown key {name!r}")
        return ResourceRule(other=tuple(other), **fields)

    def _layer4(self, value: object, key: str, fields: dict[str, Any], other: list[tuple[str, str]]) -> None:
        match = self.mapping(value, f"{key}.matchLayer4")
        fields["protocol"] = self.choice(match.get("protocol"), f"{key}.matchLayer4.protocol", PROTOCOLS)
        for name, item in match.items():
            if name == "matchDestinationPort":
                fields["dports"] = self.ports(item, f"{key}.matchDestinationPort")
            elif name == "matchICMPType":
                types = self.items(self.mapping(item, "matchICMPType").get("types"), f"{key}.matchICMPType.types")
                fields["icmp_types"] = tuple(self.integer(t, f"{key} ICMP type", 0, 255) for t in types)
            elif name == "matchSourcePort":
                other.append(("matchSourcePort", json.dumps(item, sort_keys=True, separators=(",", ":"))))
            elif name != "protocol":
                raise self.fail(f"{key}.matchLayer4: unknown key {name!r}")


def _chain(doc: object, where: str, index: int) -> ResourceChain:
    reader = _Reader(f"{where}: resource {index}")
    data = reader.mapping(doc, "a resource")
    metadata = reader.mapping(data.get("metadata"), "metadata")
    rtype = metadata.get("type")
    if rtype != RESOURCE_TYPE:
        raise reader.fail(f"is a {rtype} resource, not {RESOURCE_TYPE} (run talosctl get nftableschains -o yaml)")
    chain_id = metadata.get("id")
    if not isinstance(chain_id, str) or not chain_id:
        raise reader.fail("metadata.id is missing")
    reader.where = f"{where}: chain {chain_id}"
    spec = reader.mapping(data.get("spec"), "spec")
    version = metadata.get("version")
    node = data.get("node")
    return ResourceChain(
        id=chain_id,
        type=reader.choice(spec.get("type"), "type", CHAIN_TYPES),
        hook=reader.choice(spec.get("hook"), "hook", HOOKS),
        priority=parse_priority(spec.get("priority"), reader.where),
        policy=reader.choice(spec.get("policy"), "policy", VERDICTS),
        rules=tuple(reader.rule(rule, i) for i, rule in enumerate(reader.items(spec.get("rules"), "rules"), start=1)),
        node=None if node is None else str(node),
        version=version if isinstance(version, int) and not isinstance(version, bool) else None,
        created=_time_text(metadata.get("created")),
        updated=_time_text(metadata.get("updated")),
    )


def _time_text(value: object) -> str | None:
    """A metadata timestamp as talosctl prints it (the YAML loader makes datetimes of them)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def parse_live(text: str, where: str) -> LiveChains:
    """``talosctl get nftableschains -o yaml`` (``---``-separated) or ``-o json`` output.

    Several nodes in one file are kept apart by their ``node:`` key. KubeSpan's chains are
    left out with a note. An empty file means no chains (a node without a firewall).
    """
    stripped = text.lstrip()
    docs = _json_documents(text, where) if stripped.startswith("{") else load_all(text, where)
    chains: list[ResourceChain] = []
    ignored: list[ResourceChain] = []
    notes: list[str] = []
    for index, doc in enumerate(docs, start=1):
        chain = _chain(doc, where, index)
        (ignored if chain.id in KUBESPAN_CHAINS else chains).append(chain)
    if not docs:
        notes.append(f"{where}: no NfTablesChain resources (a node with no firewall documents has none)")
    seen: set[tuple[str | None, str]] = set()
    for chain in chains:
        if (chain.node, chain.id) in seen:
            on = "" if chain.node is None else f" of node {chain.node}"
            raise BadInput(f"{where}: chain {chain.id}{on} appears twice")
        seen.add((chain.node, chain.id))
    return LiveChains(where, tuple(chains), tuple(ignored), tuple(notes))
