"""Compile firewall documents into Talos's nftables ruleset (``Ruleset``, one ``NftRule`` per nft rule).

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

The address sets a rule matches come from ``talospatch.nft.sets``; ``talospatch.nft.text``
renders a ruleset as ``nft -f`` text. This module is pure: no printing, no files, no
subprocesses.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from talospatch.errors import BadInput
from talospatch.nft.sets import AddressSet, Family, IPAddress, build_ip_set
from talospatch.talos.documents import Firewall, Network, PortRange, RuleConfig, merge_adjacent
from talospatch.talos.versions import DEFAULT_VERSION, TalosVersion, resolve

TALOS_VERSION = DEFAULT_VERSION.display  # the default release, named in headers
TABLE_FAMILY = "inet"
TABLE_NAME = "talos"

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
