"""What a change of firewall documents does to traffic, computed exactly by the evaluator.

``traffic_diff`` cuts each family's address space and the port space at every boundary a
rule (of either firewall) or the node context draws, evaluates one packet per piece with
``talospatch.nft.reach.evaluate`` on both compiled rulesets, and merges the pieces whose
verdict changed back into CIDRs and port ranges. Nothing is sampled: two rulesets that
admit the same sources to the same ports give no change, whatever their YAML looks like.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from talospatch.nft import atoms
from talospatch.nft.compile import NodeContext
from talospatch.nft.reach import Packet, Reach, Verdict
from talospatch.talos.documents import L4, L4_PROTOCOLS, Firewall, Network, PortRange
from talospatch.talos.versions import TalosVersion

VERSIONS = (4, 6)
# Host DNS (pods to 169.254.116.108:53) is the one port a built-in rule names.
_BUILTIN_PORTS = (PortRange(53, 53),)


def _builtin_ports(context: NodeContext) -> tuple[PortRange, ...]:
    """Ports where a verdict can change with no rule naming them: host DNS, and the NodePort
    range (kube-proxy DNATs it before the ingress chain on releases without prerouting)."""
    nodeports = () if context.nodeport_range is None else (context.nodeport_range,)
    return (*_BUILTIN_PORTS, *nodeports)


@dataclass(frozen=True)
class Change:
    """Sources that gain (``gained``) or lose access to ``ports``/``protocol``.

    ``rule`` is what gives the access: the rule of the new firewall for a gain, of the old
    one for a loss (a NetworkRuleConfig name, or a built-in reason such as ``default
    action accept``).
    """

    gained: bool
    protocol: L4
    ports: PortRange
    sources: tuple[Network, ...]
    rule: str

    @property
    def sources_text(self) -> str:
        """The sources per family, as CIDRs or, when shorter, as everyone except the rest."""
        return " and ".join(
            _family_text(version, [n for n in self.sources if n.version == version])
            for version in VERSIONS
            if any(n.version == version for n in self.sources)
        )

    def __str__(self) -> str:
        sign, verb = ("+", "gains") if self.gained else ("-", "loses")
        return f"{sign} {self.sources_text} {verb} {self.ports.label}/{self.protocol} ({self.rule})"


def _family_text(version: int, nets: list[Network]) -> str:
    spans = [(int(n.network_address), int(n.broadcast_address)) for n in nets]
    rest = atoms.networks(version, _complement(version, spans))
    if not rest or len(rest) >= len(nets):
        return ", ".join(str(n) for n in nets)
    everyone = "0.0.0.0/0" if version == 4 else "::/0"
    return f"{everyone} except {', '.join(str(n) for n in rest)}"


def _complement(version: int, spans: list[atoms.Interval]) -> list[atoms.Interval]:
    out: list[atoms.Interval] = []
    cursor = 0
    for lo, hi in atoms.merge(spans):
        if lo > cursor:
            out.append((cursor, lo - 1))
        cursor = hi + 1
    if cursor < atoms.address_space(version):
        out.append((cursor, atoms.address_space(version) - 1))
    return out


def access(verdict: Verdict) -> str:
    """What allowed (or dropped) a packet, in a reviewer's words."""
    rule = verdict.rule
    if rule is not None:
        return rule.rule_name if rule.rule_name is not None else rule.origin
    if verdict.chain is None:
        return "no firewall"
    return "default action accept" if verdict.allowed else "default action block"


def _boundaries(firewalls: Iterable[Firewall], context: NodeContext) -> list[Network]:
    nets: list[Network] = [*context.pod_subnets, *context.service_subnets]
    for fw in firewalls:
        for rule in fw.rules:
            nets += rule.subnets
            nets += rule.excepts
    return nets


def _ports(firewalls: Iterable[Firewall], protocol: L4) -> list[PortRange]:
    return [p for fw in firewalls for rule in fw.rules if rule.portSelector.protocol == protocol for p in rule.ports]


class _Evaluator:
    """One packet per atom, on one compiled ruleset; the same destination rule as ``query``."""

    def __init__(self, reach: Reach) -> None:
        self.reach = reach

    def verdict(self, version: int, source: int, protocol: L4, port: int) -> Verdict:
        src = atoms.address(version, source)
        packet = Packet(src, self.reach.destination_for(src), protocol, port)
        return self.reach.verdict(packet)


Share = Literal["all", "some", "none"]


def share(reach: Reach, sources: Iterable[Network], protocol: L4, ports: Iterable[PortRange]) -> Share:
    """Whether all, some or none of ``sources`` reach every port of ``ports``, exactly (one packet per atom)."""
    nets = list(sources)
    wanted = list(ports)
    evaluator = _Evaluator(reach)
    boundaries = [*_boundaries((reach.firewall,), reach.context), *nets]
    pieces = list(atoms.port_atoms([*_ports((reach.firewall,), protocol), *_builtin_ports(reach.context), *wanted]))
    pieces = [p for p in pieces if any(p.lo in r for r in wanted)]
    seen: set[bool] = set()
    for version in VERSIONS:
        for lo, _ in atoms.inside(version, atoms.address_atoms(version, boundaries), nets):
            for piece in pieces:
                seen.add(evaluator.verdict(version, lo, protocol, piece.lo).allowed)
                if len(seen) == 2:
                    return "some"
    if not seen:
        return "none"
    return "all" if seen == {True} else "none"


def traffic_diff(
    old: Firewall,
    new: Firewall,
    context: NodeContext | None = None,
    *,
    within: tuple[L4, tuple[PortRange, ...]] | None = None,
    talos_version: TalosVersion | str | None = None,
) -> list[Change]:
    """Every source and port whose verdict differs between ``old`` and ``new``, merged.

    ``talos_version`` is the Talos release both run (the newest known when ``None``).

    ``within`` limits the question to one protocol and its port ranges (the linter asks
    whether a rule adds anything). Changes come sorted by protocol, port, losses first.
    """
    ctx = NodeContext() if context is None else context
    before, after = _Evaluator(Reach(old, ctx, talos_version)), _Evaluator(Reach(new, ctx, talos_version))
    # Ports no document rule names behave alike on both sides when the defaults agree.
    same_frame = old.default_action == new.default_action and old.active == new.active
    boundaries = _boundaries((old, new), ctx)
    # (gained, protocol, rule) -> (version, address atom) -> port atoms
    found: dict[tuple[bool, L4, str], dict[tuple[int, atoms.Interval], list[PortRange]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for protocol in L4_PROTOCOLS:
        if within is not None and within[0] != protocol:
            continue
        named = _ports((old, new), protocol)
        limits = within[1] if within is not None else ()
        port_pieces = atoms.port_atoms([*named, *_builtin_ports(ctx), *limits])
        if within is not None:
            port_pieces = [p for p in port_pieces if any(p.lo in r for r in limits)]
        if same_frame:
            port_pieces = [p for p in port_pieces if any(p.lo in r for r in named)]
        for version in VERSIONS:
            for lo, hi in atoms.address_atoms(version, boundaries):
                for piece in port_pieces:
                    was = before.verdict(version, lo, protocol, piece.lo)
                    now = after.verdict(version, lo, protocol, piece.lo)
                    if was.allowed == now.allowed:
                        continue
                    key = (now.allowed, protocol, access(now if now.allowed else was))
                    found[key][(version, (lo, hi))].append(piece)
    return _merge(found)


def _merge(found: dict[tuple[bool, L4, str], dict[tuple[int, atoms.Interval], list[PortRange]]]) -> list[Change]:
    """Join port atoms per address atom, then address atoms per port range, into changes."""
    changes: list[Change] = []
    for (gained, protocol, rule), by_address in found.items():
        by_ports: dict[PortRange, dict[int, list[atoms.Interval]]] = defaultdict(lambda: defaultdict(list))
        for (version, interval), pieces in by_address.items():
            for ports in atoms.merge_ports(pieces):
                by_ports[ports][version].append(interval)
        for ports, by_version in by_ports.items():
            sources = [net for version in VERSIONS for net in atoms.networks(version, by_version.get(version, []))]
            changes.append(Change(gained, protocol, ports, tuple(sources), rule))
    return sorted(changes, key=lambda c: (c.protocol, c.ports, c.gained, c.rule, c.sources_text))


def render_text(changes: list[Change]) -> str:
    return "".join(f"{change}\n" for change in changes)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(changes: list[Change], title: str = "Firewall traffic changes") -> str:
    """A table a CI job can post as a pull-request comment."""
    lines = [f"### {_cell(title)}", ""]
    if not changes:
        lines.append("No traffic changes: every source reaches the same ports as before.")
        return "\n".join(lines) + "\n"
    gains = sum(c.gained for c in changes)
    lines.append(f"{gains} gained, {len(changes) - gains} lost.")
    lines += ["", "| | sources | port | protocol | through rule |", "|---|---|---|---|---|"]
    for change in changes:
        sign = "➕ gains" if change.gained else "➖ loses"  # noqa: RUF001 (the PR-comment signs)
        sources = f"`{_cell(change.sources_text)}`"
        lines.append(f"| {sign} | {sources} | {change.ports.label} | {change.protocol} | `{_cell(change.rule)}` |")
    return "\n".join(lines) + "\n"
