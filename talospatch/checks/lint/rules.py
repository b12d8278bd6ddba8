"""Checks of each rule on its own, as the node ends up with it (patches merged).

A rule check gets the rule, its label and the collector; a finding of a rule the registry
marks ``drops`` (or an error) leaves the rule out of the later checks and of the firewall.
"""

from __future__ import annotations

from talospatch.checks.lint.findings import Collector, nets, ports_text
from talospatch.nft import atoms
from talospatch.talos.documents import Network, PortRange, RuleConfig

# Ports that must never be open to everyone, and whether only control planes need them.
SENSITIVE: tuple[tuple[str, PortRange, bool], ...] = (
    ("etcd", PortRange(2379, 2380), True),
    ("the kubelet API", PortRange(10250, 10250), False),
    ("kube-controller-manager", PortRange(10257, 10257), True),
    ("kube-scheduler", PortRange(10259, 10259), True),
    ("trustd", PortRange(50001, 50001), False),
)


def check_protocol(rule: RuleConfig, label: str, out: Collector) -> None:
    if rule.portSelector.protocol is None:
        out.add(
            label,
            "no-protocol",
            f"portSelector.protocol is missing: Talos accepts the rule and it matches nothing, so {ports_text(rule)} "
            "stays closed",
            "add protocol: tcp (or udp)",
        )


def check_icmp(rule: RuleConfig, label: str, out: Collector) -> None:
    if rule.protocol in ("icmp", "icmpv6"):
        out.add(
            label,
            "icmp-rule",
            f"protocol {rule.protocol}: Talos matches the ports against the ICMP checksum, so the rule does not "
            "select ICMP messages",
            "delete it: block mode accepts ICMP and ICMPv6 at 5 packets/s and no rule can narrow that",
        )


def check_ingress(rule: RuleConfig, label: str, out: Collector) -> None:
    if not rule.ingress:
        out.add(
            label,
            "empty-ingress",
            f"ingress is empty or missing, so {ports_text(rule)} is closed to everyone",
            "list the sources under ingress (- subnet: CIDR), or delete the rule",
        )


def check_excepts(rule: RuleConfig, label: str, out: Collector) -> None:
    for index, entry in enumerate(rule.ingress):
        exc = entry.except_
        if exc is not None and (exc.version != entry.subnet.version or not exc.subnet_of(entry.subnet)):  # type: ignore[arg-type]
            out.add(
                label,
                "except-outside",
                f"ingress[{index}]: except {exc} is outside its subnet {entry.subnet}",
                "Talos subtracts every except from all the rule's subnets, so it narrows another subnet or "
                "nothing; put it under the subnet it narrows, or delete it",
            )


def _sensitive(rule: RuleConfig) -> list[tuple[str, PortRange, bool]]:
    """The sensitive services a TCP rule opens."""
    if rule.protocol != "tcp":
        return []
    return [s for s in SENSITIVE if any(p.lo <= s[1].hi and s[1].lo <= p.hi for p in rule.ports)]


def check_open_to_everyone(rule: RuleConfig, label: str, out: Collector) -> None:
    everyone = [n for n in rule.subnets if n.prefixlen == 0]
    if not everyone:
        return
    for service, ports, controlplane_only in _sensitive(rule):
        who = "the control-plane addresses" if controlplane_only else "the node subnet"
        message = f"{service} {ports.label}/tcp is open to {nets(everyone)}"
        out.add(label, "open-to-everyone", message, f"allow only {who}")


def check_beyond_controlplane(rule: RuleConfig, label: str, out: Collector) -> None:
    """Given the control-plane addresses (a rule open to everyone is ``open-to-everyone``)."""
    opts = out.options
    if not opts.controlplane or any(n.prefixlen == 0 for n in rule.subnets):
        return
    for service, ports, controlplane_only in _sensitive(rule):
        beyond = [n for n in rule.subnets if not _within(n, opts.controlplane)]
        if controlplane_only and beyond:
            out.add(
                label,
                "beyond-controlplane",
                f"{service} {ports.label}/tcp is open to {nets(beyond)}, beyond the control-plane addresses",
                f"allow only {opts.labels('controlplane')} {nets(opts.controlplane)}",
            )


def _within(net: Network, union: tuple[Network, ...]) -> bool:
    """Whether the union of ``union`` (same family) holds every address of ``net``."""
    spans = atoms.merge((int(n.network_address), int(n.broadcast_address)) for n in union if n.version == net.version)
    lo, hi = int(net.network_address), int(net.broadcast_address)
    return any(s_lo <= lo and hi <= s_hi for s_lo, s_hi in spans)
