"""Compile firewall documents into Talos's nftables ruleset, and render it as ``nft`` text.

The ruleset is built for one Talos release (``talospatch.talos.versions.TalosVersion``); without a
version, the default: the newest Talos release talospatch knows
(``talospatch.talos.versions.DEFAULT_VERSION``). ``main`` (the v1.15 development line after
``55e0f6350``) is selectable too. The logic follows ``NfTablesChainConfigController`` (which
rules, in which order) and ``nftablesRule.Compile`` / ``BuildIPSet`` (how one rule becomes
zero, one or two nft rules), with these differences between releases (``versions.CHANGES``):

- ``main`` only: in ``accept`` mode the ``ct state { established, related } accept`` and
  ``ct state invalid drop`` rules exist too (#13926); every release has them in block mode only.
- v1.14.0: with an IPv6 pod CIDR, the host DNS rules' IPv6 part matches the IPv6 host DNS
  address; before, that part has no destination match (Talos's ``Compile`` keeps the source's
  IPv6 part when the destination set has none).
- before v1.11.0: no ICMP timestamp/address-mask drop (CVE-1999-0524) in block mode.
- before v1.10.0: no ``prerouting`` chain, so NodePorts and hostPorts are not filtered.
- before v1.9.4 (v1.9 line) and v1.10.0: the ``ingress`` chain has priority ``filter`` (0),
  not -140 (``mangle + 10``).
- v1.8.0 and later only: ports merged, host-DNS accept rules for pods (older is refused).

Not part of the ruleset, checked by ``talospatch.checks.hazards``: before v1.12.5 / v1.13.0 a set
ending at port 65535, 255.255.255.255 or ``ffff:...`` makes the controller fail with EINVAL
and no rules are applied at all (#12890); before v1.13.9 / v1.14.0 large rulesets fail with
ENOBUFS (#14001).

This module is pure: no printing, no files, no subprocesses. ``render`` writes exactly what
``nft list ruleset`` (nftables 1.0.6) prints back for the table, minus the packet/byte
numbers of the counters.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from talospatch.errors import BadInput
from talospatch.talos.documents import Firewall, Network, PortRange, RuleConfig, merge_adjacent
from talospatch.talos.versions import DEFAULT_VERSION, TalosVersion, resolve

TALOS_VERSION = DEFAULT_VERSION.display  # the default release, named in headers
TABLE_FAMILY = "inet"
TABLE_NAME = "talos"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Family = Literal["ipv4", "ipv6"]
NftVerdict = Literal["accept", "drop"]
CtState = Literal["invalid", "established", "related", "new", "untracked"]
L4Proto = Literal["tcp", "udp", "icmp", "ipv6-icmp"]
Hook = Literal["prerouting", "input"]

# Chain priorities (nftables' standard values: mangle -150, dstnat -100); the ingress
# chain's is per release (``TalosVersion.ingress_priority``), -140 from v1.9.4 / v1.10.0.
INGRESS_PRIORITY = -150 + 10
PREROUTING_PRIORITY = -100 - 10

TRUSTED_INTERFACES = ("lo", "siderolink", "kubespan")
# kube-proxy's --service-node-port-range default.
DEFAULT_NODEPORT_RANGE = PortRange(30000, 32767)
HOST_DNS_V4 = ipaddress.ip_network("169.254.116.108/32")
HOST_DNS_V6 = ipaddress.ip_network("fd54:616c:6f73::204f:5320:444e:531/128")

# Origins of the built-in rules (``NftRule.origin``); a NetworkRuleConfig rule's origin is
# its document ID, ``NetworkRuleConfig/<name>``.
ORIGIN_TRUSTED = "trusted interface"
ORIGIN_ESTABLISHED = "established"
ORIGIN_INVALID = "invalid"
ORIGIN_ICMP_CVE = "icmp cve-1999-0524"
ORIGIN_ICMP_LIMIT = "icmp rate limit"
ORIGIN_ICMPV6_LIMIT = "icmpv6 rate limit"
ORIGIN_HOST_DNS = "host dns"
ORIGIN_POD_SERVICE = "pod/service"
ORIGIN_NOT_TO_NODE = "not addressed to node"
ORIGIN_BLOCK_NEW = "default action block"
ORIGIN_POLICY = "default policy"

_FAMILY_BITS: dict[Family, int] = {"ipv4": 32, "ipv6": 128}
_CT_STATE_BITS: dict[str, int] = {
    "invalid": 1,
    "established": 2,
    "related": 4,
    "new": 8,
    "untracked": 64,
}
_ICMP_TYPES: dict[str, int] = {
    "echo-reply": 0,
    "destination-unreachable": 3,
    "echo-request": 8,
    "time-exceeded": 11,
    "timestamp-request": 13,
    "timestamp-reply": 14,
    "address-mask-request": 17,
    "address-mask-reply": 18,
}
_L4PROTO: dict[str, L4Proto] = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "ipv6-icmp"}


@dataclass(frozen=True)
class NodeContext:
    """What the node contributes besides the documents.

    ``node_ips``: the routed node addresses (Talos's ``NodeAddress``); without any, Talos
    builds no ``prerouting`` chain. ``pod_subnets``/``service_subnets``: the cluster network.
    ``host_dns``: ``forwardKubeDNSToHost`` (on by default since v1.8), which adds the
    pod/service to 169.254.116.108:53 accept rules in block mode. ``nodeport_range``:
    kube-proxy's ``--service-node-port-range`` (Kubernetes' default 30000-32767), the ports
    kube-proxy DNATs to pods in prerouting (``None``: no kube-proxy NodePorts, e.g. Cilium's
    kube-proxy replacement); it decides no rule, only how ``reach`` follows such a packet.
    """

    node_ips: tuple[IPAddress, ...] = ()
    pod_subnets: tuple[Network, ...] = (ipaddress.ip_network("10.244.0.0/16"),)
    service_subnets: tuple[Network, ...] = (ipaddress.ip_network("10.96.0.0/12"),)
    host_dns: bool = True
    nodeport_range: PortRange | None = DEFAULT_NODEPORT_RANGE


# --------------------------------------------------------------------------------------
# Address sets (BuildIPSet)


def _family_of(value: IPAddress | Network) -> Family:
    return "ipv4" if value.version == 4 else "ipv6"


def _merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with overlapping and touching intervals joined (netipx's normal form)."""
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def _subtract(include: list[tuple[int, int]], exclude: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``include`` minus ``exclude``; both in normal form, and so is the result."""
    out: list[tuple[int, int]] = []
    for lo, hi in include:
        cur = lo
        for ex_lo, ex_hi in exclude:
            if ex_hi < cur or ex_lo > hi:
                continue
            if ex_lo > cur:
                out.append((cur, ex_lo - 1))
            cur = ex_hi + 1
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return out


@dataclass(frozen=True)
class IPSetParts:
    """Talos's ``SplitIPSet(BuildIPSet(...))``: the IPv4 and IPv6 inclusive integer ranges.

    An empty tuple is Go's ``nil`` set for that family.
    """

    v4: tuple[tuple[int, int], ...]
    v6: tuple[tuple[int, int], ...]

    def of(self, family: Family) -> tuple[tuple[int, int], ...]:
        return self.v4 if family == "ipv4" else self.v6

    def covers_all(self, family: Family) -> bool:
        ranges = self.of(family)
        return ranges == ((0, (1 << _FAMILY_BITS[family]) - 1),)

    def contains(self, addr: IPAddress) -> bool:
        return _in_ranges(self.of(_family_of(addr)), int(addr))


def build_ip_set(include: Iterable[Network], exclude: Iterable[Network] = ()) -> IPSetParts:
    """The union of ``include`` minus the union of ``exclude``, per family (netipx semantics).

    Every exclude applies to every include: an ``except`` of one ingress entry removes its
    addresses from all the subnets of that rule.
    """
    inc: dict[Family, list[tuple[int, int]]] = {"ipv4": [], "ipv6": []}
    exc: dict[Family, list[tuple[int, int]]] = {"ipv4": [], "ipv6": []}
    for target, networks in ((inc, include), (exc, exclude)):
        for net in networks:
            target[_family_of(net)].append((int(net.network_address), int(net.broadcast_address)))
    v4 = _subtract(_merge_intervals(inc["ipv4"]), _merge_intervals(exc["ipv4"]))
    v6 = _subtract(_merge_intervals(inc["ipv6"]), _merge_intervals(exc["ipv6"]))
    return IPSetParts(tuple(v4), tuple(v6))


def _in_ranges(ranges: Sequence[tuple[int, int]], value: int) -> bool:
    index = bisect.bisect_right(ranges, (value, 1 << 129)) - 1
    return index >= 0 and ranges[index][0] <= value <= ranges[index][1]


@dataclass(frozen=True)
class AddressSet:
    """An anonymous interval set of one family, matched with ``==`` or (``invert``) ``!=``.

    ``ranges`` are inclusive integer ranges, sorted, disjoint and not touching.
    """

    family: Family
    ranges: tuple[tuple[int, int], ...]
    invert: bool = False

    def contains(self, addr: IPAddress) -> bool:
        """Plain membership, ignoring ``invert``; an address of the other family is not in it."""
        return _family_of(addr) == self.family and _in_ranges(self.ranges, int(addr))

    def matches(self, addr: IPAddress) -> bool:
        """What the nft expression does: the family must match, then ``==`` or ``!=``."""
        if _family_of(addr) != self.family:
            return False
        return _in_ranges(self.ranges, int(addr)) != self.invert

    @property
    def address_ranges(self) -> tuple[tuple[IPAddress, IPAddress], ...]:
        """The ranges as (first, last) addresses."""
        make = ipaddress.IPv4Address if self.family == "ipv4" else ipaddress.IPv6Address
        return tuple((make(lo), make(hi)) for lo, hi in self.ranges)

    def elements(self) -> list[str]:
        """The set elements as nft lists them: an address, a CIDR prefix, or ``a-b``."""
        return [_interval_text(self.family, lo, hi) for lo, hi in self.ranges]


def _addr_text(family: Family, value: int) -> str:
    """An address as nft prints it (``inet_ntop``; differs from Python for IPv6)."""
    if family == "ipv4":
        return str(ipaddress.IPv4Address(value))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def _interval_text(family: Family, lo: int, hi: int) -> str:
    if lo == hi:
        return _addr_text(family, lo)
    size = hi - lo + 1
    if size & (size - 1) == 0 and lo % size == 0:
        prefix_len = _FAMILY_BITS[family] - (size.bit_length() - 1)
        return f"{_addr_text(family, lo)}/{prefix_len}"
    return f"{_addr_text(family, lo)}-{_addr_text(family, hi)}"


# --------------------------------------------------------------------------------------
# The intermediate representation


@dataclass(frozen=True)
class NftRule:
    """One nft rule with structured matches, and where it came from.

    Every field left empty/``None`` does not take part in matching. ``family`` is Talos's
    ``meta nfproto`` match; when ``saddr``/``daddr`` is set it has the same family.
    ``origin`` names the NetworkRuleConfig (``NetworkRuleConfig/<name>``, with ``rule_name``
    set) or the built-in reason (``ORIGIN_*``).
    """

    verdict: NftVerdict
    origin: str
    rule_name: str | None = None
    iifnames: tuple[str, ...] = ()
    ct_states: tuple[CtState, ...] = ()
    l4proto: L4Proto | None = None
    family: Family | None = None
    saddr: AddressSet | None = None
    daddr: AddressSet | None = None
    dports: tuple[PortRange, ...] = ()
    icmp_types: tuple[str, ...] = ()
    limit_per_second: int | None = None
    counter: bool = True


@dataclass(frozen=True)
class Chain:
    """A base chain of ``table inet talos``."""

    name: str
    hook: Hook
    priority: int
    policy: NftVerdict
    rules: tuple[NftRule, ...]
    type: str = "filter"


@dataclass(frozen=True)
class Ruleset:
    """The ``inet talos`` table: its chains in the order Talos lists them (may be none),
    as the Talos release ``version`` builds it."""

    chains: tuple[Chain, ...] = ()
    version: TalosVersion = DEFAULT_VERSION
    _by_name: dict[str, Chain] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_name.update({chain.name: chain for chain in self.chains})

    @property
    def talos_version(self) -> str:
        """The modelled release as headers name it (``v1.14.0``)."""
        return self.version.display

    def chain(self, name: str) -> Chain | None:
        return self._by_name.get(name)

    def in_packet_order(self) -> list[Chain]:
        """The chains in the order an incoming packet meets them: prerouting, then input."""
        hooks: dict[str, int] = {"prerouting": 0, "input": 1}
        return sorted(self.chains, key=lambda c: (hooks[c.hook], c.priority))


# --------------------------------------------------------------------------------------
# Compiling (nftablesRule.Compile)


@dataclass(frozen=True)
class _AddressMatch:
    include: tuple[Network, ...]
    exclude: tuple[Network, ...] = ()
    invert: bool = False


def _compile_rule(
    *,
    verdict: NftVerdict,
    origin: str,
    rule_name: str | None = None,
    iifnames: tuple[str, ...] = (),
    ct_states: tuple[CtState, ...] = (),
    source: _AddressMatch | None = None,
    destination: _AddressMatch | None = None,
    l4proto: L4Proto | None = None,
    dports: tuple[PortRange, ...] = (),
    icmp_types: tuple[str, ...] = (),
    limit_per_second: int | None = None,
) -> list[NftRule]:
    """One Talos ``NfTablesRule`` as zero, one or two nft rules (IPv4 part, IPv6 part).

    A faithful port of ``nftablesRule.Compile``: each address match adds to the per-family
    parts (an "any address of this family" part, or a set lookup), the first match that can
    match nothing drops the whole rule, and a rule with no family part is family-less.
    """
    # None: no part for this family; a dict: the family's address matches (maybe none).
    parts: dict[Family, dict[str, AddressSet] | None] = {"ipv4": None, "ipv6": None}
    for key, match in (("saddr", source), ("daddr", destination)):
        if match is None:
            continue
        sets = build_ip_set(match.include, match.exclude)
        if not sets.v4 and not sets.v6 and not match.invert:
            return []  # matches nothing
        if sets.covers_all("ipv4") and sets.covers_all("ipv6") and match.invert:
            return []  # matches nothing
        for family in ("ipv4", "ipv6"):
            ranges, covers_all = sets.of(family), sets.covers_all(family)
            if (covers_all and not match.invert) or (match.invert and not ranges):
                parts[family] = parts[family] or {}
            elif (not covers_all and match.invert) or (not match.invert and ranges):
                part = parts[family] or {}
                part[key] = AddressSet(family, ranges, match.invert)
                parts[family] = part

    def make(family: Family | None, part: dict[str, AddressSet]) -> NftRule:
        return NftRule(
            verdict=verdict,
            origin=origin,
            rule_name=rule_name,
            iifnames=iifnames,
            ct_states=ct_states,
            l4proto=l4proto,
            family=family,
            saddr=part.get("saddr"),
            daddr=part.get("daddr"),
            dports=dports,
            icmp_types=icmp_types,
            limit_per_second=limit_per_second,
        )

    v4, v6 = parts["ipv4"], parts["ipv6"]
    if v4 is None and v6 is None:
        return [make(None, {})]
    rules: list[NftRule] = []
    if v4 is not None:
        rules.append(make("ipv4", v4))
    if v6 is not None:
        rules.append(make("ipv6", v6))
    return rules


def _l4proto(rule: RuleConfig) -> L4Proto:
    protocol = rule.portSelector.protocol
    if protocol is None:
        raise BadInput(f"{rule.doc_id}: portSelector.protocol is required (tcp or udp)")
    return _L4PROTO[protocol]


def _document_rules(fw: Firewall, ct_states: tuple[CtState, ...]) -> list[NftRule]:
    """One Talos rule per NetworkRuleConfig, in document order (ingress and prerouting)."""
    block = fw.default_action == "block"
    out: list[NftRule] = []
    for rule in fw.rules:
        out += _compile_rule(
            verdict="accept" if block else "drop",
            origin=rule.doc_id,
            rule_name=rule.name,
            ct_states=ct_states,
            source=_AddressMatch(tuple(rule.subnets), tuple(rule.excepts), invert=not block),
            l4proto=_l4proto(rule),
            dports=tuple(merge_adjacent(rule.ports)),
        )
    return out


def _ingress_chain(fw: Firewall, ctx: NodeContext, version: TalosVersion) -> Chain:
    """The ``ingress`` chain (hook input, the release's priority), rules in Talos's order."""
    block = fw.default_action == "block"
    return Chain(
        name="ingress",
        hook="input",
        priority=version.ingress_priority,
        policy="drop" if block else "accept",
        rules=(*_ingress_head(block, ctx, version), *_document_rules(fw, ())),
    )


# A build compiles thousands of firewalls for a handful of (mode, node, release) triples.
@functools.lru_cache(maxsize=64)
def _ingress_head(block: bool, ctx: NodeContext, version: TalosVersion) -> tuple[NftRule, ...]:
    """The ingress rules before the documents' (trusted interfaces, conntrack, ICMP,
    pod/service traffic): they depend on the mode, the node and the release only."""
    rules = _compile_rule(verdict="accept", origin=ORIGIN_TRUSTED, iifnames=TRUSTED_INTERFACES)
    if block or version.accept_mode_conntrack:
        rules += _compile_rule(verdict="accept", origin=ORIGIN_ESTABLISHED, ct_states=("established", "related"))
        rules += _compile_rule(verdict="drop", origin=ORIGIN_INVALID, ct_states=("invalid",))
    if block and version.icmp_cve_drop:
        rules += _compile_rule(
            verdict="drop",
            origin=ORIGIN_ICMP_CVE,
            l4proto="icmp",
            icmp_types=(
                "timestamp-request",
                "timestamp-reply",
                "address-mask-request",
                "address-mask-reply",
            ),
        )
    if block:
        rules += _compile_rule(verdict="accept", origin=ORIGIN_ICMP_LIMIT, l4proto="icmp", limit_per_second=5)
        rules += _compile_rule(verdict="accept", origin=ORIGIN_ICMPV6_LIMIT, l4proto="ipv6-icmp", limit_per_second=5)
        k8s = _AddressMatch(ctx.pod_subnets + ctx.service_subnets)
        if ctx.host_dns and version.host_dns:
            dns: tuple[Network, ...] = (HOST_DNS_V4,)
            if version.host_dns_v6:
                # Talos appends the IPv6 address once per IPv6 pod subnet; the set dedupes.
                dns += tuple(HOST_DNS_V6 for pod in ctx.pod_subnets if pod.version == 6)
            for proto in ("udp", "tcp"):
                rules += _compile_rule(
                    verdict="accept",
                    origin=ORIGIN_HOST_DNS,
                    source=k8s,
                    destination=_AddressMatch(dns),
                    l4proto=proto,
                    dports=(PortRange(53, 53),),
                )
        rules += _compile_rule(verdict="accept", origin=ORIGIN_POD_SERVICE, source=k8s, destination=k8s)
    return tuple(rules)


def _prerouting_chain(fw: Firewall, ctx: NodeContext) -> Chain:
    """The ``prerouting`` chain (priority -110): filters new connections to node addresses
    before kube-proxy's DNAT, so NodePorts and hostPorts obey the rules too."""
    node = tuple(ipaddress.ip_network(ip) for ip in ctx.node_ips)  # /32 or /128
    rules = _compile_rule(verdict="accept", origin=ORIGIN_TRUSTED, iifnames=TRUSTED_INTERFACES)
    rules += _compile_rule(verdict="accept", origin=ORIGIN_NOT_TO_NODE, destination=_AddressMatch(node, invert=True))
    rules += _document_rules(fw, ("new",))
    if fw.default_action == "block":
        for proto in ("tcp", "udp"):
            rules += _compile_rule(verdict="drop", origin=ORIGIN_BLOCK_NEW, ct_states=("new",), l4proto=proto)
    return Chain(
        name="prerouting",
        hook="prerouting",
        priority=PREROUTING_PRIORITY,
        policy="accept",
        rules=tuple(rules),
    )


def compile_firewall(
    fw: Firewall, ctx: NodeContext | None = None, version: TalosVersion | str | None = None
) -> Ruleset:
    """The ``inet talos`` table Talos ``version`` builds for these documents on this node.

    ``version``: a ``TalosVersion``, a version string (``"1.9"``, ``"v1.13.9"``, ``"main"``;
    see ``versions.parse_talos_version``, whose warning is dropped here) or ``None`` for the
    default release. No chains when the firewall is inactive (default action accept, no
    rules, no default document); the ``prerouting`` chain only from v1.10.0 and only when
    the node has an address.
    """
    ctx = NodeContext() if ctx is None else ctx
    release = resolve(version)
    if not fw.active:
        return Ruleset((), release)
    chains = [_ingress_chain(fw, ctx, release)]
    if ctx.node_ips and release.prerouting_chain:
        chains.append(_prerouting_chain(fw, ctx))
    return Ruleset(tuple(chains), release)


# --------------------------------------------------------------------------------------
# Rendering (nft list ruleset form, nftables 1.0.6)

_STD_PRIORITIES: tuple[tuple[str, int], ...] = (
    ("raw", -300),
    ("mangle", -150),
    ("dstnat", -100),
    ("filter", 0),
    ("security", 50),
    ("srcnat", 100),
)


def priority_text(priority: int) -> str:
    """A chain priority as nft 1.0.6 lists it: ``mangle + 10``, ``dstnat - 10``, ``filter``."""
    for name, value in _STD_PRIORITIES:
        offset = priority - value
        if offset == 0:
            return name
        if -10 <= offset <= 10:
            return f"{name} {'+' if offset > 0 else '-'} {abs(offset)}"
    return str(priority)


def _ifname_key(name: str) -> int:
    # nft sorts ifname set elements as host-endian (little-endian) 16-byte integers.
    return int.from_bytes(name.encode().ljust(16, b"\0")[:16], "little")


def _value(elements: Sequence[str]) -> str:
    return elements[0] if len(elements) == 1 else "{ " + ", ".join(elements) + " }"


def _port_text(ports: Iterable[PortRange]) -> str:
    return _value([p.label for p in sorted(ports)])


def _address_text(prefix: str, key: str, aset: AddressSet) -> str:
    op = "!= " if aset.invert else ""
    return f"{prefix} {key} {op}{_value(aset.elements())}"


def rule_text(rule: NftRule, *, comment: bool = False) -> str:
    """One rule as ``nft list`` prints it (counter without numbers).

    nft folds Talos's ``meta nfproto`` into a following ``ip``/``ip6`` address match, and
    ``meta l4proto`` into the port match (``tcp dport``); a port match on ICMP lists as
    ``icmp checksum`` because Talos loads the transport header at offset 2.
    """
    parts: list[str] = []
    if rule.iifnames:
        names = sorted(rule.iifnames, key=_ifname_key)
        parts.append("iifname " + _value([f'"{n}"' for n in names]))
    if rule.ct_states:
        states = sorted(rule.ct_states, key=lambda s: _CT_STATE_BITS[s])
        parts.append("ct state " + _value(states))
    folded_l4 = bool(rule.dports or rule.icmp_types)
    if rule.l4proto is not None and not folded_l4:
        parts.append(f"meta l4proto {rule.l4proto}")
    if rule.family is not None and rule.saddr is None and rule.daddr is None:
        parts.append(f"meta nfproto {rule.family}")
    ip = "ip" if rule.family == "ipv4" else "ip6"
    if rule.saddr is not None:
        parts.append(_address_text(ip, "saddr", rule.saddr))
    if rule.daddr is not None:
        parts.append(_address_text(ip, "daddr", rule.daddr))
    if rule.l4proto is not None and folded_l4:
        header = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmpv6"}[rule.l4proto]
        if rule.dports:
            field_name = "dport" if rule.l4proto in ("tcp", "udp") else "checksum"
            parts.append(f"{header} {field_name} {_port_text(rule.dports)}")
        if rule.icmp_types:
            types = sorted(rule.icmp_types, key=lambda t: _ICMP_TYPES.get(t, 256))
            parts.append(f"{header} type {_value(types)}")
    if rule.limit_per_second is not None:
        # Talos sets burst = rate; nft omits the default burst of 5.
        burst = rule.limit_per_second
        extra = "" if burst == 5 else f" burst {burst} packets"
        parts.append(f"limit rate {rule.limit_per_second}/second{extra}")
    if rule.counter:
        parts.append("counter")
    parts.append(rule.verdict)
    if comment:
        parts.append(f'comment "{rule.origin}"')
    return " ".join(parts)


def render(ruleset: Ruleset, *, header: bool = True, comments: bool = False) -> str:
    """The table as text for ``nft -f`` (no flush/delete), in ``nft list ruleset`` layout.

    ``header`` adds ``#`` lines naming the modelled Talos version; ``comments`` adds an nft
    ``comment "<origin>"`` to each rule (Talos itself sets none). Deterministic.
    """
    lines: list[str] = []
    if header:
        lines.append(f"# table {TABLE_FAMILY} {TABLE_NAME} as Talos {ruleset.talos_version} builds it")
        lines.append("# (talospatch; nft list ruleset form, nftables 1.0.6; load with nft -f)")
    lines.append(f"table {TABLE_FAMILY} {TABLE_NAME} {{")
    for index, chain in enumerate(ruleset.chains):
        if index:
            lines.append("")
        lines.append(f"\tchain {chain.name} {{")
        lines.append(
            f"\t\ttype {chain.type} hook {chain.hook} priority {priority_text(chain.priority)}; policy {chain.policy};"
        )
        lines.extend(f"\t\t{rule_text(rule, comment=comments)}" for rule in chain.rules)
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"
