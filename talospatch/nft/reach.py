"""Can this source reach this port on the node? Answered on the compiled ruleset.

``evaluate`` walks a ``Ruleset`` (``talospatch.nft.compile``) the way netfilter does for one packet:
the ``prerouting`` chain first (when present), then ``ingress`` (hook input). In a base
chain the first matching rule decides: ``drop`` ends everything, ``accept`` ends that chain
and the packet meets the next hook; when no rule matches, the chain's policy applies.

``Reach`` compiles the documents once, for one Talos release (``talospatch.talos.versions``), and
answers many queries: the verdict always comes from ``evaluate`` (so a query means exactly
what the compiled ruleset does), and the one-line reason is then explained from the
documents (which rule, which of its subnets), naming the release where the verdict depends
on it.

NodePorts: kube-proxy DNATs a new connection to a NodePort (``NodeContext.nodeport_range``)
at priority dstnat (-100) in prerouting; the packet then goes to a pod (forward path) and
never meets the input hook. Only chains hooked in prerouting before dstnat can filter it:
Talos's ``prerouting`` chain (-110) from v1.10.0. Before v1.10 no rule filters NodePorts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from talospatch.errors import BadInput
from talospatch.nft.compile import (
    ORIGIN_BLOCK_NEW,
    ORIGIN_ESTABLISHED,
    ORIGIN_HOST_DNS,
    ORIGIN_INVALID,
    ORIGIN_POD_SERVICE,
    ORIGIN_TRUSTED,
    CtState,
    NftRule,
    NodeContext,
    Ruleset,
    compile_firewall,
)
from talospatch.nft.sets import Family, IPAddress
from talospatch.talos.documents import L4, Firewall, Network, PortRange, RuleConfig, parse_port_protocol
from talospatch.talos.versions import TalosVersion, resolve

# kube-proxy's NAT chains (iptables nat PREROUTING) run at this priority.
DSTNAT_PRIORITY = -100
ORIGIN_KUBE_PROXY_DNAT = "kube-proxy dnat"

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
    # kube-proxy DNATed the packet to a pod: it left the input path after ``chain``.
    dnat: bool = False

    @property
    def origin(self) -> str:
        """The deciding rule's origin, or ``<chain> policy <verdict>``, or ``no firewall``
        (``kube-proxy dnat`` when a NodePort DNAT took the packet past every chain)."""
        if self.rule is not None:
            return self.rule.origin
        if self.dnat and self.chain is None:
            return ORIGIN_KUBE_PROXY_DNAT
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


def evaluate(ruleset: Ruleset, packet: Packet, *, dnat_ports: PortRange | None = None) -> Verdict:
    """Run ``packet`` through the ruleset's chains in hook order, with nftables semantics.

    ``dnat_ports``: the NodePorts kube-proxy DNATs to pods (the caller decides that the
    packet is addressed to the node). A new connection to one of them meets only the
    prerouting chains before dstnat (-100); then it is forwarded to a pod, and the input
    hook (the ``ingress`` chain) never sees it.
    """
    trail: list[str] = []
    last: Verdict = Verdict(True, None, None)
    dnat = dnat_ports is not None and packet.ct_state == "new" and packet.port in dnat_ports and bool(ruleset.chains)
    for chain in ruleset.in_packet_order():
        if dnat and (chain.hook != "prerouting" or chain.priority >= DSTNAT_PRIORITY):
            trail.append(f"kube-proxy: DNAT of NodePort {packet.port}/{packet.protocol} to a pod; {chain.name} not met")
            return Verdict(True, last.chain, last.rule, last.index, tuple(trail), dnat=True)
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
    # The Talos release the answer holds for; ``version_note`` is set when it depends on it.
    version: TalosVersion | None = None
    version_note: str | None = None

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

    def __init__(
        self,
        firewall: Firewall,
        context: NodeContext | None = None,
        version: TalosVersion | str | None = None,
        *,
        ruleset: Ruleset | None = None,
    ) -> None:
        """``ruleset``: ``firewall`` already compiled for this context and release, if the
        caller has it (``hazards.fit_generated`` compiles it), so it is not compiled twice."""
        self.firewall = firewall
        self.context = NodeContext() if context is None else context
        self.version = resolve(version)
        self.ruleset = compile_firewall(firewall, self.context, self.version) if ruleset is None else ruleset
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
        ct_state: CtState = "new",
    ) -> Packet:
        """The packet a query is about (a new connection unless ``ct_state`` says otherwise);
        ``BadInput`` for invalid values."""
        src = _address(source, "source")
        dst = self.destination_for(src) if destination is None else _address(destination, "destination")
        proto = protocol.strip().lower()
        if proto not in ("tcp", "udp"):
            raise BadInput(f"invalid protocol: {protocol!r} (want tcp or udp)")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise BadInput(f"invalid port: {port!r} (want 0-65535)")
        return Packet(src, dst, "tcp" if proto == "tcp" else "udp", port, iifname, ct_state)

    def query(
        self,
        source: IPAddress | str,
        port: int,
        protocol: str,
        destination: IPAddress | str | None = None,
        *,
        iifname: str = "eth0",
        ct_state: CtState = "new",
    ) -> Answer:
        """Can ``source`` open a ``protocol`` connection to ``port`` on the node?

        With ``ct_state="established"``: is a packet of an existing connection let through?
        """
        packet = self.packet(source, port, protocol, destination, iifname=iifname, ct_state=ct_state)
        verdict = self.verdict(packet)
        note = self._version_note(packet, verdict)
        reason = self._reason(packet, verdict)
        if note is not None and not verdict.dnat:
            reason = f"{reason}; {note}"
        return Answer(verdict.allowed, reason, verdict, packet, self.version, note)

    def verdict(self, packet: Packet) -> Verdict:
        """What this node does with ``packet``: the compiled chains, after kube-proxy's NodePort
        DNAT where the release lets it come first."""
        return evaluate(self.ruleset, packet, dnat_ports=self._dnat_ports(packet))

    def _dnat_ports(self, packet: Packet) -> PortRange | None:
        """kube-proxy's NodePort range when ``packet`` goes to a node address (``fib daddr
        type local``); any destination counts when the node's addresses are not given.

        ``None`` from v1.10 on when the ruleset has no ``prerouting`` chain (no node address
        given): a real node has one, with the same rules as ``ingress``, so ``ingress`` stands
        in for it.
        """
        nodeports = self.context.nodeport_range
        if nodeports is None or (self.context.node_ips and packet.destination not in self.context.node_ips):
            return None
        if self.version.prerouting_chain and self.ruleset.chain("prerouting") is None:
            return None
        return nodeports

    def _version_note(self, packet: Packet, verdict: Verdict) -> str | None:
        """Why this verdict holds on this release and not on every one, or ``None``."""
        v = self.version
        if verdict.dnat and not v.prerouting_chain:
            return (
                f"on Talos {v.line} NodePort traffic is DNATed by kube-proxy before the ingress chain "
                "(no prerouting chain before v1.10): no rule filters it"
            )
        if verdict.dnat:
            return None
        if (
            verdict.rule is not None
            and verdict.rule.origin == ORIGIN_HOST_DNS
            and packet.family == "ipv6"
            and not v.host_dns_v6
        ):
            return (
                f"on Talos {v.display} the host DNS rule has no IPv6 destination match (v1.14.0 adds one): "
                "IPv6 pods reach port 53 at every node address"
            )
        if (
            packet.ct_state in ("established", "related", "invalid")
            and self.firewall.default_action == "accept"
            and not v.accept_mode_conntrack
            and verdict.rule is not None
            and verdict.rule.rule_name is not None
        ):
            return (
                f"on Talos {v.display} accept mode has no conntrack rules (v1.14.0 adds them, #13926): "
                f"{packet.ct_state} traffic is filtered like new connections"
            )
        return None

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
        if verdict.dnat and rule is None and not self.version.prerouting_chain:
            return f"allowed: {self._version_note(packet, verdict)}"
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
    version: TalosVersion | str | None = None,
) -> Answer:
    """One query; for many, build a ``Reach`` once and call its ``query``."""
    return Reach(fw, ctx, version).query(source, port, protocol, destination)
