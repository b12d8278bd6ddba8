"""The cluster's rules as a router in front of the node VLAN sees them (pfSense, OPNsense).

A router filters only what it routes between segments. Of the host firewall's rules it can
enforce those whose sources are outside the node subnets (admins, NodePort clients,
``any``), towards the nodes of a role; node-to-node and pod traffic inside the VLAN never
reaches it. It also carries the seed's egress (443/tcp and 123/udp from the nodes; 4460/tcp
NTS key exchange from v1.14), which the ingress-only Talos firewall cannot express. ``plan``
sorts every source of every rule into one of the two, so a target emits the first as rules
and the second as a comment.

The plan is a view of the same ``Cluster`` every target renders: no role is expanded again.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from talospatch.errors import BadInput
from talospatch.export.cluster import DOT_EGRESS, NTS_EGRESS, Cluster
from talospatch.talos.addresses import dedupe, is_link_local, parse_network
from talospatch.talos.documents import L4, Network, PortRange

TAG = "talospatch:"  # every description talospatch writes starts with this
ALIAS_PREFIX = "talospatch_"
# OPNsense's DescriptionField: 1-255 characters (bytes: its regex has no /u).
DESCRIPTION_MAX = 255


Placement = Literal["inbound", "egress"]


@dataclass(frozen=True)
class Alias:
    """A named set of addresses, talospatch's own (its name starts with ``talospatch_``)."""

    name: str
    networks: tuple[Network, ...]
    description: str

    @property
    def hosts_only(self) -> bool:
        return all(n.num_addresses == 1 for n in self.networks)


@dataclass(frozen=True)
class RoutedRule:
    """One pass rule for the router.

    ``placement`` says where the packet enters the router: ``inbound`` on the interface the
    routed sources arrive on (towards the nodes), ``egress`` on the node VLAN's interface.
    ``source`` and ``destination`` are alias names, or None for any address.
    """

    key: str  # stable identity across runs (trackers and UUIDs derive from it)
    placement: Placement
    protocol: L4
    port: PortRange
    source: str | None
    destination: str | None
    families: tuple[int, ...]  # IP versions the rule can match: (4,), (6,) or (4, 6)
    description: str


@dataclass(frozen=True)
class Unenforced:
    """A source of a host-firewall rule that the router never sees."""

    role: str
    rule: str
    ports: str
    protocol: L4
    group: str
    networks: tuple[Network, ...]
    reason: str

    def line(self) -> str:
        nets = ", ".join(str(n) for n in self.networks)
        return f"{self.role} {self.rule} ({self.ports}/{self.protocol}) from {self.group} ({nets}): {self.reason}"


@dataclass(frozen=True)
class RoutedPlan:
    nodes: tuple[Network, ...]
    aliases: tuple[Alias, ...]
    rules: tuple[RoutedRule, ...]
    unenforced: tuple[Unenforced, ...]
    warnings: tuple[str, ...]


def _inside(net: Network, nodes: Iterable[Network]) -> bool:
    return any(net.version == n.version and net.subnet_of(n) for n in nodes)  # type: ignore[arg-type]


def _families(networks: Iterable[Network]) -> set[int]:
    return {n.version for n in networks}


def _unenforced_reason(group: str, inside: tuple[Network, ...]) -> str:
    """Why sources inside the cluster's network never reach the router."""
    if group == "pods":
        return "pod traffic to a node stays inside the cluster (overlay or node-to-node), never routed"
    if all(is_link_local(n) for n in inside):
        return "link-local traffic never leaves its link: a router does not forward it"
    return "node-to-node traffic inside the VLAN never reaches the router"


def describe(text: str) -> str:
    """A description with talospatch's tag, on one line, within OPNsense's 255 bytes.

    Double quotes become single ones (pfSense strips them from rule labels) and backslashes
    slashes (pfSense's rule form rejects them; OPNsense's CSV reader treats them as escapes).
    """
    text = f"{TAG} {text}".replace('"', "'").replace("\\", "/")
    text = " ".join(text.split())
    if len(text.encode()) <= DESCRIPTION_MAX:
        return text
    cut = text.encode()[: DESCRIPTION_MAX - 3].decode(errors="ignore")
    return cut.rsplit(" ", 1)[0] + "..."


def alias_name(group: str) -> str:
    return ALIAS_PREFIX + re.sub(r"[^a-z0-9_]", "_", group.lower())


def _addresses(values: tuple[str, ...], option: str, *, allow_address: bool) -> list[Network]:
    return dedupe([parse_network(v, option, allow_address=allow_address) for v in values])


def plan(cluster: Cluster, ntp_servers: tuple[str, ...] = ()) -> RoutedPlan:
    """Sort the cluster's rules into what a router enforces and what it never sees."""
    labels = cluster.labels
    nodes = cluster.subnets
    ntp = tuple(_addresses(ntp_servers, labels("ntp_servers"), allow_address=True))
    warnings = list(dict.fromkeys(cluster.warnings))

    aliases: dict[str, Alias] = {}

    def alias(group: str, networks: Iterable[Network], what: str) -> str:
        name = alias_name(group)
        nets = tuple(networks)
        if name in aliases and aliases[name].networks != nets:
            raise BadInput(f"alias {name} would hold two different address sets; rename a group")
        aliases.setdefault(name, Alias(name, nets, describe(what)))
        return name

    nodes_alias = alias("nodes", nodes, "the node subnets of the cluster")
    destinations: dict[str, tuple[str, set[int]]] = {}
    for role, group, label in (
        ("controlplane", "controlplane", "control-plane nodes"),
        ("worker", "workers", "worker nodes"),
    ):
        given = cluster.addresses(group)
        if given:
            destinations[role] = (alias(group, given, label), _families(given))
        else:
            destinations[role] = (nodes_alias, _families(nodes))
            if role == "worker":
                warnings.append(
                    f"no {labels('workers')}: rules towards workers name the whole node subnet, control planes included"
                )

    rules: list[RoutedRule] = []
    unenforced: list[Unenforced] = []
    for role_rules in cluster.roles:
        role = role_rules.role
        destination, dest_families = destinations[role]
        for cluster_rule in role_rules.rules:
            proto = cluster_rule.protocol
            ports = ", ".join(p.label for p in cluster_rule.ports)
            for by_group in cluster_rule.sources:
                group, networks = by_group.group, by_group.networks
                inside = tuple(n for n in networks if group == "pods" or is_link_local(n) or _inside(n, nodes))
                routed = tuple(n for n in networks if n not in inside)
                if inside:
                    reason = _unenforced_reason(group, inside)
                    unenforced.append(Unenforced(role, cluster_rule.name, ports, proto, group, inside, reason))
                if not routed:
                    continue
                if group == "any":
                    source, src_families = None, {4, 6}
                else:
                    suffix = "" if len(routed) == len(networks) else "_routed"
                    what = f"{group} outside the node subnets"
                    source, src_families = alias(group + suffix, routed, what), _families(routed)
                families = tuple(sorted(src_families & dest_families))
                if not families:
                    warnings.append(
                        f"{role} {cluster_rule.name} from {group}: the sources and the {role} nodes share no IP "
                        "family, so no rule is emitted"
                    )
                    continue
                for port in cluster_rule.ports:
                    rules.append(
                        RoutedRule(
                            key=f"{role}/{cluster_rule.name}/{group}/{port.label}",
                            placement="inbound",
                            protocol=proto,
                            port=port,
                            source=source,
                            destination=destination,
                            families=families,
                            description=describe(f"{role} {cluster_rule.name} from {group}: {cluster_rule.why}"),
                        )
                    )

    ntp_alias = alias("ntp", ntp, "the NTP servers the nodes use") if ntp else None
    node_families = _families(nodes)
    for name, egress_proto, number, dest, dest_families, why in (
        (
            "https",
            "tcp",
            443,
            None,
            {4, 6},
            (
                "container images (ghcr.io, docker.io, quay.io), Talos installer "
                "images and cluster discovery (seed: Egress)"
            ),
        ),
        ("ntp", "udp", 123, ntp_alias, _families(ntp) if ntp else {4, 6}, "NTP time synchronisation (seed: Egress)"),
        *(
            [
                (
                    "nts-ke",
                    NTS_EGRESS.protocol,
                    NTS_EGRESS.port,
                    ntp_alias,
                    _families(ntp) if ntp else {4, 6},
                    NTS_EGRESS.why,
                )
            ]
            if NTS_EGRESS in cluster.egress
            else []
        ),
        *(
            [("dot", DOT_EGRESS.protocol, DOT_EGRESS.port, None, {4, 6}, DOT_EGRESS.why)]
            if DOT_EGRESS in cluster.egress
            else []
        ),
    ):
        families = tuple(sorted(node_families & dest_families))
        if not families:
            raise BadInput(f"{labels('ntp_servers')}: no NTP server shares an IP family with the node subnets")
        rules.append(
            RoutedRule(
                key=f"egress/{name}",
                placement="egress",
                protocol=egress_proto,  # type: ignore[arg-type]
                port=PortRange(number, number),
                source=nodes_alias,
                destination=dest,
                families=families,
                description=describe(f"egress {number}/{egress_proto} from nodes: {why}"),
            )
        )
    warnings.append(
        "the seed's egress has no DNS: if the nodes' resolver is reached through the router, "
        "add a rule for 53/udp and 53/tcp from the nodes"
    )
    return RoutedPlan(nodes, tuple(aliases.values()), tuple(rules), tuple(unenforced), tuple(warnings))


def not_enforced_lines(routed: RoutedPlan) -> list[str]:
    """The explanation both routed targets carry: what the router cannot enforce, and why."""
    nodes = ", ".join(str(n) for n in routed.nodes)
    lines = [
        "Not enforced here (a router filters only traffic it routes between segments):",
        (
            f"- the seed's intra-cluster row ({nodes} to {nodes}, any port) is not a rule: "
            "node-to-node traffic inside the VLAN is switched, never routed"
        ),
        (
            "- these host-firewall sources stay in the VLAN, so only each node's Talos firewall "
            "(talospatch gen) filters them:"
        ),
    ]
    lines += [f"  {u.line()}" for u in routed.unenforced]
    lines.append("- default deny: built into the router for every interface without a pass rule")
    return lines


def stable_uuid(key: str) -> str:
    """A UUID in version-4 form derived from ``key``: the same rule keeps its UUID."""
    digest = hashlib.sha256(f"talospatch/{key}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def stable_number(key: str, start: int, size: int, taken: set[int]) -> int:
    """A number in ``[start, start + size)`` derived from ``key``, not in ``taken``."""
    value = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % size
    for step in range(size):
        candidate = start + (value + step) % size
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise BadInput(f"no free number left in {start}-{start + size - 1}")


def address_text(net: Network) -> str:
    """A /32 or /128 as a bare address (as pfSense and OPNsense write hosts), else the CIDR."""
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def family_name(families: tuple[int, ...]) -> str:
    return {(4,): "inet", (6,): "inet6", (4, 6): "inet46"}[families]
