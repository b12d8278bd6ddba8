"""Can this source reach this port on the node? Answered on the compiled ruleset.

``evaluate`` walks a ``Ruleset`` (``talospatch.nft``) the way netfilter does for one packet:
the ``prerouting`` chain first (when present), then ``ingress`` (hook input). In a base
chain the first matching rule decides: ``drop`` ends everything, ``accept`` ends that chain
and the packet meets the next hook; when no rule matches, the chain's policy applies.

``Reach`` compiles the documents once and answers many queries: the verdict always comes
from ``evaluate`` (so a query means exactly what the compiled ruleset does), and the
one-line reason is then explained from the documents (which rule, which of its subnets).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from talospatch.errors import BadInput
from talospatch.nft import (
    ORIGIN_BLOCK_NEW,
    ORIGIN_ESTABLISHED,
    ORIGIN_HOST_DNS,
    ORIGIN_INVALID,
    ORIGIN_POD_SERVICE,
    ORIGIN_TRUSTED,
    CtState,
    Family,
    IPAddress,
    NftRule,
    NodeContext,
    Ruleset,
    compile_firewall,
)
from talospatch.talosdocs import L4, Firewall, Network, RuleConfig, parse_port_protocol

# Destinations used when the node has no address of the source's family (RFC 5737/3849).
DOCUMENTATION_ADDRESS: dict[Family, IPAddress] = {
    "ipv4": ipaddress.IPv4Address("192.0.2.1"),
    "ipv6": ipaddress.IPv6Address("2001:db8::1"),
}


@dataclass(frozen=True)
class Packet:
    """The first packet of a connection as the node's netfilter hooks see it."""

    source: IPAddress
    destination: IPAddress
    protocol: L4
    port: int
    iifname: str = "eth0"
    ct_state: CtState = "new"

    def __post_init__(self) -> None:
        if self.source.version != self.destination.version:
            raise BadInput(f"source {self.source} and destination {self.destination} are not the same IP family")

    @property
    def family(self) -> Family:
        return "ipv4" if self.source.version == 4 else "ipv6"


@dataclass(frozen=True)
class Verdict:
    """What happened to a packet: allowed or dropped, and what decided.

    ``chain`` is the chain that decided (for an allowed packet: the last chain, which
    accepted it); ``None`` when the table has no chains. ``rule`` is the deciding rule, or
    ``None`` when the chain policy decided. ``trail`` says what each chain did.
    """

    allowed: bool
    chain: str | None
    rule: NftRule | None
    index: int | None = None
    trail: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        """The deciding rule's origin, or ``<chain> policy <verdict>``, or ``no firewall``."""
        if self.rule is not None:
            return self.rule.origin
        if self.chain is None:
            return "no firewall"
        return f"{self.chain} policy {'accept' if self.allowed else 'drop'}"

    def __str__(self) -> str:
        word = "allowed" if self.allowed else "dropped"
        where = "" if self.chain is None else f" in {self.chain}"
        at = "" if self.index is None else f" rule {self.index + 1}"
        return f"{word}{where}{at} ({self.origin})"


def rule_matches(rule: NftRule, packet: Packet) -> bool:
    """Whether every match of ``rule`` holds for ``packet`` (a rate limit counts as met)."""
    if rule.iifnames and packet.iifname not in rule.iifnames:
        return False
    if rule.ct_states and packet.ct_state not in rule.ct_states:
        return False
    if rule.l4proto is not None and rule.l4proto != packet.protocol:
        return False
    if rule.family is not None and rule.family != packet.family:
        return False
    if rule.saddr is not None and not rule.saddr.matches(packet.source):
        return False
    if rule.daddr is not None and not rule.daddr.matches(packet.destination):
        return False
    if rule.dports and not any(packet.port in ports for ports in rule.dports):
        return False
    # The packets asked about are TCP/UDP: an ICMP type match never holds.
    return not rule.icmp_types


def evaluate(ruleset: Ruleset, packet: Packet) -> Verdict:
    """Run ``packet`` through the ruleset's chains in hook order, with nftables semantics."""
    trail: list[str] = []
    last: Verdict = Verdict(True, None, None)
    for chain in ruleset.in_packet_order():
        decided: tuple[int, NftRule] | None = None
        for index, rule in enumerate(chain.rules):
            if rule_matches(rule, packet):
                decided = (index, rule)
                break
        if decided is None:
            trail.append(f"{chain.name}: policy {chain.policy}")
            if chain.policy == "drop":
                return Verdict(False, chain.name, None, None, tuple(trail))
            last = Verdict(True, chain.name, None, None)
            continue
        index, rule = decided
        trail.append(f"{chain.name}: rule {index + 1} {rule.verdict} ({rule.origin})")
        if rule.verdict == "drop":
            return Verdict(False, chain.name, rule, index, tuple(trail))
        last = Verdict(True, chain.name, rule, index)
    return Verdict(last.allowed, last.chain, last.rule, last.index, tuple(trail))


@dataclass(frozen=True)
class Answer:
    """A query's answer: ``allowed`` and a stable one-line ``reason`` (printed by the CLI)."""

    allowed: bool
    reason: str
    verdict: Verdict
    packet: Packet

    def __str__(self) -> str:
        return self.reason


def _address(value: IPAddress | str, what: str) -> IPAddress:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise BadInput(f"invalid {what} address: {value!r}") from None


def parse_port_spec(text: str, option: str) -> tuple[int, L4]:
    """``PORT/PROTOCOL`` such as ``50000/tcp`` or ``8472/udp``; a bare port is TCP."""
    try:
        return parse_port_protocol(text, default="tcp")
    except ValueError as exc:
        raise BadInput(f"{option} {text!r}: {exc} (want e.g. 50000/tcp)") from None


def _nets(networks: list[Network]) -> str:
    return ", ".join(str(n) for n in networks)


class Reach:
    """Reachability of one node's firewall: compiled once, queried many times."""

    def __init__(self, firewall: Firewall, context: NodeContext | None = None) -> None:
        self.firewall = firewall
        self.context = NodeContext() if context is None else context
        self.ruleset = compile_firewall(firewall, self.context)
        self._documents = {rule.name: rule for rule in firewall.rules}

    def destination_for(self, source: IPAddress) -> IPAddress:
        """The first node address of the source's family, else a documentation address."""
        for ip in self.context.node_ips:
            if ip.version == source.version:
                return ip
        return DOCUMENTATION_ADDRESS["ipv4" if source.version == 4 else "ipv6"]

    def packet(
        self,
        source: IPAddress | str,
        port: int,
        protocol: str,
        destination: IPAddress | str | None = None,
        *,
        iifname: str = "eth0",
    ) -> Packet:
        """The new-connection packet a query is about; ``BadInput`` for invalid values."""
        src = _address(source, "source")
        dst = self.destination_for(src) if destination is None else _address(destination, "destination")
        proto = protocol.strip().lower()
        if proto not in ("tcp", "udp"):
            raise BadInput(f"invalid protocol: {protocol!r} (want tcp or udp)")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise BadInput(f"invalid port: {port!r} (want 0-65535)")
        return Packet(src, dst, "tcp" if proto == "tcp" else "udp", port, iifname)

    def query(
        self,
        source: IPAddress | str,
        port: int,
        protocol: str,
        destination: IPAddress | str | None = None,
        *,
        iifname: str = "eth0",
    ) -> Answer:
        """Can ``source`` open a ``protocol`` connection to ``port`` on the node?"""
        packet = self.packet(source, port, protocol, destination, iifname=iifname)
        verdict = evaluate(self.ruleset, packet)
        return Answer(verdict.allowed, self._reason(packet, verdict), verdict, packet)

    # -- explaining ---------------------------------------------------------------------

    def covering_rules(self, protocol: str, port: int) -> list[RuleConfig]:
        """The documents whose protocol and ports cover ``port/protocol``, in order."""
        return [
            rule
            for rule in self.firewall.rules
            if rule.portSelector.protocol == protocol and any(port in p for p in rule.ports)
        ]

    @staticmethod
    def _containing(rule: RuleConfig, source: IPAddress) -> list[Network]:
        return [n for n in rule.subnets if n.version == source.version and source in n]

    @staticmethod
    def _excluding(rule: RuleConfig, source: IPAddress) -> list[Network]:
        return [n for n in rule.excepts if n.version == source.version and source in n]

    def _allowed_by(self, rule: RuleConfig, source: IPAddress) -> str:
        """``name (the rule's subnets that contain the source)``."""
        containing = self._containing(rule, source)
        return f"{rule.name} ({_nets(containing)})" if containing else rule.name

    def _outside(self, rule: RuleConfig, source: IPAddress) -> str:
        """Why ``source`` is not in the rule's allowed set: outside, or cut by an except."""
        containing = self._containing(rule, source)
        excluding = self._excluding(rule, source)
        if containing and excluding:
            return f"excluded from {rule.name} by except {_nets(excluding)}"
        if containing:  # not expected: the set contains it
            return f"inside {rule.name} ({_nets(containing)})"
        if not rule.ingress:
            return f"outside {rule.name} (no ingress subnets)"
        same_family = [n for n in rule.subnets if n.version == source.version]
        if not same_family:
            return f"outside {rule.name} (no IPv{source.version} subnets)"
        return f"outside {rule.name} ({_nets(same_family)})"

    def _reason(self, packet: Packet, verdict: Verdict) -> str:
        rule = verdict.rule
        src, label = packet.source, f"{packet.port}/{packet.protocol}"
        if rule is not None and rule.rule_name is not None:
            document = self._documents[rule.rule_name]
            if verdict.allowed:
                return f"allowed: {self._allowed_by(document, src)}"
            return f"dropped: {src} is {self._outside(document, src)}"
        if rule is not None and rule.origin != ORIGIN_BLOCK_NEW:
            return self._builtin_reason(packet, rule)
        # The chain policy decided (or block mode's final new tcp/udp drop).
        covering = self.covering_rules(packet.protocol, packet.port)
        if verdict.allowed:
            if not covering:
                return f"allowed: default action accept (no rule for {label})"
            return "allowed: " + ", ".join(self._allowed_by(r, src) for r in covering)
        if not covering:
            return f"dropped: no rule allows {label} (default action block)"
        return f"dropped: {src} is " + "; ".join(self._outside(r, src) for r in covering)

    @staticmethod
    def _builtin_reason(packet: Packet, rule: NftRule) -> str:
        word = "allowed" if rule.verdict == "accept" else "dropped"
        if rule.origin == ORIGIN_TRUSTED:
            return f"{word}: trusted interface {packet.iifname}"
        if rule.origin in (ORIGIN_ESTABLISHED, ORIGIN_INVALID):
            return f"{word}: connection state {packet.ct_state}"
        if rule.origin == ORIGIN_HOST_DNS:
            return f"{word}: host DNS from pods/services ({packet.destination}:53)"
        if rule.origin == ORIGIN_POD_SERVICE:
            return f"{word}: pod/service traffic"
        return f"{word}: {rule.origin}"


def query(
    fw: Firewall,
    ctx: NodeContext,
    source: IPAddress | str,
    port: int,
    protocol: str,
    destination: IPAddress | str | None = None,
) -> Answer:
    """One query; for many, build a ``Reach`` once and call its ``query``."""
    return Reach(fw, ctx).query(source, port, protocol, destination)
