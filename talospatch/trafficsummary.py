"""A minimal "who gains or loses what" between two firewalls, for ``build --check``.

``minimal_traffic_summary`` is a stand-in for a full traffic diff: it asks the evaluator
(``talospatch.reach.Reach``) about one address per subnet named in either firewall (its first
address, labelled with the narrowest subnet that starts there) and one port per stretch of
ports where the rules' coverage does not change, and reports each answer that differs. It is
a sample, not a proof: a change to part of a subnet shows only where a named subnet starts.
It has the signature a full diff can take over.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable

from talospatch.nft import NodeContext
from talospatch.reach import Reach
from talospatch.talosdocs import Firewall, Network, PortRange, RuleConfig


def _port_stretches(rules: Iterable[RuleConfig], protocol: str) -> list[PortRange]:
    """The ports of the rules of ``protocol``, cut wherever a range starts or ends."""
    ranges = [p for r in rules if r.portSelector.protocol == protocol for p in r.ports]
    cuts = sorted({p.lo for p in ranges} | {p.hi + 1 for p in ranges})
    stretches = []
    for lo, next_lo in itertools.pairwise(cuts):
        stretch = PortRange(lo, next_lo - 1)
        if any(p.lo <= lo <= p.hi for p in ranges):
            stretches.append(stretch)
    return stretches


def _sources(firewalls: Iterable[Firewall]) -> list[Network]:
    """The subnets and excepts named, one per first address: the narrowest, the most a sample can stand for."""
    nets: set[Network] = set()
    for firewall in firewalls:
        for rule in firewall.rules:
            nets.update(rule.subnets)
            nets.update(rule.excepts)
    narrowest: dict[object, Network] = {}
    for net in sorted(nets, key=lambda n: n.prefixlen):
        narrowest[net.network_address] = net
    return sorted(narrowest.values(), key=lambda n: (n.version, int(n.network_address), n.prefixlen))


def _rule_for(
    firewall: Firewall, source: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, protocol: str
) -> str:
    for rule in firewall.rules:
        if rule.portSelector.protocol != protocol or not any(port in p for p in rule.ports):
            continue
        inside = any(source in n for n in rule.subnets if n.version == source.version)
        cut = any(source in n for n in rule.excepts if n.version == source.version)
        if inside and not cut:
            return rule.name
    return "default action"


def minimal_traffic_summary(old: Firewall, new: Firewall, context: NodeContext) -> list[str]:
    """One line per source and port stretch that gains or loses access, e.g.
    ``+ 196.45.28.20/32 gains 6443/tcp (kubernetes-api-ingress)``; empty when nothing changes.
    """
    before, after = Reach(old, context), Reach(new, context)
    lines = []
    rules = [*old.rules, *new.rules]
    for protocol in ("tcp", "udp"):
        for stretch in _port_stretches(rules, protocol):
            changes: dict[Network, str] = {}
            for source in _sources((old, new)):
                address = source.network_address
                was = before.query(address, stretch.lo, protocol).allowed
                now = after.query(address, stretch.lo, protocol).allowed
                if was == now:
                    continue
                if now:
                    rule = _rule_for(new, address, stretch.lo, protocol)
                    changes[source] = f"+ {{}} gains {stretch.label}/{protocol} ({rule})"
                else:
                    rule = _rule_for(old, address, stretch.lo, protocol)
                    changes[source] = f"- {{}} loses {stretch.label}/{protocol} ({rule})"
            # A subnet inside a wider one with the same change says nothing new.
            for source, line in changes.items():
                if not any(_inside(source, wider) and changes[wider] == line for wider in changes):
                    lines.append(line.format(source))
    return lines


def _inside(net: Network, wider: Network) -> bool:
    return net != wider and net.version == wider.version and net.subnet_of(wider)  # type: ignore[arg-type]
