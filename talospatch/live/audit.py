"""Join what a node listens on (``talosctl netstat -l -p``) with its firewall.

For every listening socket: who may reach it, computed exactly on the compiled ruleset
(``talospatch.nft.reach``): the source addresses are cut into the intervals on which no rule's
source set changes, one packet per interval is run through ``reach.evaluate``, and the
accepted intervals are grouped by the rule that accepted them. Then

- listeners no rule opens (closed; for the known Talos ones, why that is intended),
- listeners bound only to loopback (unreachable from other hosts whatever the rules say),
- rules that open a port nobody listens on, or only loopback listens on (dead rules, or a
  component not deployed yet).

The trusted interfaces (lo, siderolink, kubespan) reach every listener; they are not
listed per socket. Pure: no printing (``table_text`` returns the text).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from talospatch.decode import DecodeError, Fields
from talospatch.decode import Path as KeyPath
from talospatch.errors import BadInput
from talospatch.live.netstat import Socket
from talospatch.nft.compile import TRUSTED_INTERFACES, NodeContext
from talospatch.nft.reach import DOCUMENTATION_ADDRESS, Packet, Reach
from talospatch.nft.sets import Family, IPAddress, build_ip_set
from talospatch.talos.documents import L4, L4_PROTOCOLS, Firewall
from talospatch.talos.versions import TalosVersion
from talospatch.yamlio import load_one

Status = Literal["open", "closed", "loopback", "not-evaluated"]

_MAX: dict[Family, int] = {"ipv4": (1 << 32) - 1, "ipv6": (1 << 128) - 1}
# Addresses that are not on the public internet (RFC 6890 special-purpose, not global).
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
        "::/127",
        "::ffff:0:0/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001:db8::/32",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


Expect = Literal["open", "closed", "local"]
EXPECTS: tuple[Expect, ...] = ("open", "closed", "local")


@dataclass(frozen=True)
class KnownListener:
    """One entry of ``listeners.yaml``."""

    port: int
    protocol: L4
    component: str
    expect: Expect
    why: str
    source: str

    @classmethod
    def from_data(cls, data: object, path: KeyPath) -> KnownListener:
        fields = Fields(data, path, ("port", "protocol", "component", "expect", "why", "source"))
        port = fields.required("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535:
            raise fields.error("port", f"must be a port 1-65535, not {port!r}")
        return cls(
            port=port,
            protocol=fields.choice("protocol", L4_PROTOCOLS, fields.required("protocol")),
            component=fields.text("component"),
            expect=fields.choice("expect", EXPECTS, fields.required("expect")),
            why=fields.text("why"),
            source=fields.text("source"),
        )


@cache
def known_listeners() -> dict[tuple[int, str], KnownListener]:
    """The bundled table of Talos/Kubernetes/CNI listeners, by (port, protocol)."""
    return parse_listeners(files("talospatch.live").joinpath("listeners.yaml").read_text(encoding="utf-8"))


def parse_listeners(text: str, where: str = "listeners.yaml") -> dict[tuple[int, str], KnownListener]:
    """A listener table's text, checked; errors name the entry and key."""
    data = load_one(text, where)
    try:
        items = Fields(data, (), ("listeners",)).items("listeners", required=True)
        entries = [KnownListener.from_data(item, ("listeners", index)) for index, item in enumerate(items)]
    except DecodeError as exc:
        if len(exc.path) > 1:  # an entry: name it by its index
            raise BadInput(f"{where}: listeners[{exc.path[1]}]: {exc.describe(skip=2)}") from None
        raise BadInput(f"{where}: {exc}") from None
    return {(entry.port, entry.protocol): entry for entry in entries}


@dataclass(frozen=True)
class Access:
    """Who may reach a listener: the source addresses one rule (or built-in) accepts."""

    by: str
    sources: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.by}: {', '.join(self.sources)}"


@dataclass(frozen=True)
class ListenerReport:
    """One listening socket and what the firewall lets reach it.

    ``anyone``: every address of some family can reach it. ``public``: some address
    outside the private and special ranges can. ``rules``: the NetworkRuleConfigs whose
    port and protocol cover it (whether or not they let anyone in).
    """

    socket: Socket
    status: Status
    access: tuple[Access, ...]
    anyone: bool
    public: bool
    rules: tuple[str, ...]
    known: KnownListener | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        s = self.socket
        return {
            "proto": s.proto,
            "address": str(s.local),
            "port": s.port,
            "program": s.program,
            "pid": s.pid,
            "status": self.status,
            "access": [{"by": a.by, "sources": list(a.sources)} for a in self.access],
            "anyone": self.anyone,
            "public": self.public,
            "rules": list(self.rules),
            "component": None if self.known is None else self.known.component,
            "note": self.note,
        }


@dataclass(frozen=True)
class DeadRule:
    """A rule port nobody (or only loopback) listens on."""

    rule: str
    ports: str
    reason: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.ports}): {self.reason}"

    def to_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "ports": self.ports, "reason": self.reason}


@dataclass(frozen=True)
class AuditResult:
    node: str | None
    listeners: tuple[ListenerReport, ...]
    dead_rules: tuple[DeadRule, ...]
    notes: tuple[str, ...]
    talos_version: str

    def of_status(self, status: Status) -> list[ListenerReport]:
        return [report for report in self.listeners if report.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "talosVersion": self.talos_version,
            "listeners": [report.to_dict() for report in self.listeners],
            "deadRules": [dead.to_dict() for dead in self.dead_rules],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------------------
# Who may reach a socket


def _family(addr: IPAddress) -> Family:
    return "ipv4" if addr.version == 4 else "ipv6"


def _make(family: Family, value: int) -> IPAddress:
    return ipaddress.IPv4Address(value) if family == "ipv4" else ipaddress.IPv6Address(value)


def _interval_text(family: Family, lo: int, hi: int) -> str:
    first, last = _make(family, lo), _make(family, hi)
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = list(ipaddress.summarize_address_range(first, last))
    return ", ".join(str(n.network_address) if n.num_addresses == 1 else str(n) for n in nets)


def _boundaries(reach: Reach, family: Family) -> list[int]:
    """Where some rule's source set starts or ends: the verdict is constant in between."""
    points = {0}
    for chain in reach.ruleset.chains:
        for rule in chain.rules:
            if rule.saddr is not None and rule.saddr.family == family:
                for lo, hi in rule.saddr.ranges:
                    points.add(lo)
                    if hi < _MAX[family]:
                        points.add(hi + 1)
    return sorted(points)


def _allowed(reach: Reach, family: Family, destination: IPAddress, proto: str, port: int) -> list[tuple[str, int, int]]:
    """``(who, lo, hi)``: the source intervals the ruleset accepts, by deciding rule."""
    points = _boundaries(reach, family)
    out: list[tuple[str, int, int]] = []
    for index, lo in enumerate(points):
        hi = points[index + 1] - 1 if index + 1 < len(points) else _MAX[family]
        packet = Packet(_make(family, lo), destination, "tcp" if proto == "tcp" else "udp", port)
        verdict = reach.verdict(packet)
        if not verdict.allowed:
            continue
        rule = verdict.rule
        if rule is None:
            who = "default action accept" if verdict.chain is not None else "no firewall"
        else:
            who = rule.rule_name or rule.origin
        if out and out[-1][0] == who and out[-1][2] + 1 == lo:
            out[-1] = (who, out[-1][1], hi)
        else:
            out.append((who, lo, hi))
    return out


def _public(family: Family, lo: int, hi: int) -> bool:
    nets = ipaddress.summarize_address_range(_make(family, lo), _make(family, hi))
    rest = build_ip_set(list(nets), _NOT_GLOBAL)
    return bool(rest.of(family))


def _destinations(sock: Socket, ctx: NodeContext) -> list[IPAddress]:
    """The addresses other hosts reach the socket at: its own, or the node's for a wildcard."""
    if not sock.wildcard:
        return [sock.local]
    # A tcp6/udp6 socket on :: is dual-stack (Linux default bindv6only=0).
    families = {4, 6} if sock.local.version == 6 else {4}
    mine = [ip for ip in ctx.node_ips if ip.version in families]
    if mine:
        return mine
    return [DOCUMENTATION_ADDRESS["ipv4" if 4 in families else "ipv6"]]


def _report(sock: Socket, reach: Reach) -> ListenerReport:
    known = known_listeners().get((sock.port, sock.transport))
    rules = tuple(r.name for r in reach.covering_rules(sock.transport, sock.port))
    if sock.transport not in ("tcp", "udp"):
        return ListenerReport(sock, "not-evaluated", (), False, False, rules, known, f"{sock.proto}: not TCP or UDP")
    if sock.loopback_only:
        note = "bound to loopback only: unreachable from other hosts whatever the rules say"
        if rules:
            note += f" ({', '.join(rules)} opens the port for nothing)"
        return ListenerReport(sock, "loopback", (), False, False, rules, known, note)
    grouped: dict[str, list[str]] = {}
    anyone = public = False
    for destination in _destinations(sock, reach.context):
        family = _family(destination)
        for who, lo, hi in _allowed(reach, family, destination, sock.transport, sock.port):
            grouped.setdefault(who, []).append(_interval_text(family, lo, hi))
            anyone = anyone or (lo == 0 and hi == _MAX[family])
            public = public or _public(family, lo, hi)
    access = tuple(Access(who, tuple(dict.fromkeys(sources))) for who, sources in grouped.items())
    if access:
        notes = ["open to anyone" if anyone else ("open to public addresses" if public else "")]
        by_rule = [a.by for a in access if a.by in rules]
        if not by_rule:
            notes.append("only through Talos's built-in rules")
        elif known is not None and known.expect in ("closed", "local"):
            notes.append(f"{', '.join(by_rule)} opens a port meant to stay closed: {known.why}")
        note = "; ".join(filter(None, notes))
        return ListenerReport(sock, "open", access, anyone, public, rules, known, note)
    if known is not None and known.expect in ("closed", "local"):
        note = f"intended closed: {known.why}"
    elif rules:
        note = f"{', '.join(rules)} covers the port but lets no source in"
    elif known is not None:
        note = f"no rule opens it ({known.component}: {known.why})"
    else:
        note = "no rule opens it"
    return ListenerReport(sock, "closed", (), False, False, rules, known, note)


def _dead_rules(fw: Firewall, sockets: Sequence[Socket]) -> list[DeadRule]:
    dead: list[DeadRule] = []
    for rule in fw.rules:
        for ports in rule.ports:
            on_port = [s for s in sockets if s.transport == rule.protocol and s.port in ports]
            label = f"{ports.label}/{rule.protocol}"
            component = known_listeners().get((ports.lo, rule.protocol)) if ports.lo == ports.hi else None
            name = f" ({component.component})" if component is not None else ""
            if not on_port:
                reason = f"nothing listens on {label}{name}: a dead rule, or a component not deployed yet"
                dead.append(DeadRule(rule.name, label, reason))
            elif all(s.loopback_only for s in on_port):
                where = ", ".join(s.local_text for s in on_port)
                reason = f"only loopback listens ({where}){name}: the rule opens the port for nothing"
                dead.append(DeadRule(rule.name, label, reason))
    return dead


def audit(
    sockets: Sequence[Socket],
    fw: Firewall,
    ctx: NodeContext | None = None,
    version: TalosVersion | str | None = None,
    *,
    node: str | None = None,
) -> AuditResult:
    """Audit one node: ``sockets`` are its listeners (``netstat.listeners``)."""
    ctx = NodeContext() if ctx is None else ctx
    reach = Reach(fw, ctx, version)
    notes = [f"the trusted interfaces ({', '.join(TRUSTED_INTERFACES)}) reach every listener"]
    if not ctx.node_ips:
        notes.append("no node address given: wildcard listeners are judged at a documentation address")
    seen: set[tuple[str, IPAddress, int]] = set()
    unique: list[Socket] = []
    for sock in sockets:
        key = (sock.proto, sock.local, sock.port)
        if key not in seen:  # SO_REUSEPORT sockets print once each
            seen.add(key)
            unique.append(sock)
    unique.sort(key=lambda s: (s.transport, s.port, s.proto, int(s.local)))
    reports = tuple(_report(sock, reach) for sock in unique)
    return AuditResult(node, reports, tuple(_dead_rules(fw, unique)), tuple(notes), reach.ruleset.talos_version)


def audit_nodes(
    sockets: Sequence[Socket],
    fw: Firewall,
    ctx: NodeContext | None = None,
    version: TalosVersion | str | None = None,
) -> list[AuditResult]:
    """``audit`` per node of a netstat file (the NODE column), in file order.

    Without ``ctx.node_ips``, a NODE that is an IP address (``talosctl -n 192.168.30.11``)
    is taken as that node's address, with a note.
    """
    ctx = NodeContext() if ctx is None else ctx
    nodes = list(dict.fromkeys(s.node for s in sockets)) or [None]
    results = []
    for node in nodes:
        node_ctx, note = ctx, None
        if not ctx.node_ips and node is not None:
            try:
                address = ipaddress.ip_address(node)
            except ValueError:
                address = None
            if address is not None:
                node_ctx = replace(ctx, node_ips=(address,))
                note = f"node address taken from the NODE column: {address}"
        result = audit([s for s in sockets if s.node == node], fw, node_ctx, version, node=node)
        if note is not None:
            result = replace(result, notes=(note, *result.notes))
        results.append(result)
    return results


# --------------------------------------------------------------------------------------
# For people


def table_text(result: AuditResult) -> str:
    """The audit as a plain table, then the dead rules and the notes."""
    from talospatch.checks.explain import table_text as table

    header = ["listener", "program", "status", "who may reach it", "note"]
    rows = []
    for report in result.listeners:
        s = report.socket
        who = "; ".join(str(a) for a in report.access) or "-"
        rows.append([f"{s.transport} {s.local_text}", s.process, report.status, who, report.note])
    lines = []
    if result.node is not None:
        lines.append(f"node {result.node} (Talos {result.talos_version})")
    lines.append(table(header, rows).rstrip("\n"))
    if result.dead_rules:
        lines.append("")
        lines.append("rules that open a port nobody listens on:")
        lines += [f"  {dead}" for dead in result.dead_rules]
    lines += [f"note: {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def results_dict(results: Sequence[AuditResult]) -> dict[str, Any]:
    """``--format json``: every node's audit."""
    return {"nodes": [result.to_dict() for result in results]}
