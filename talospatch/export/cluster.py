"""The cluster model every export target shares, and the export's result.

``cluster_of`` keeps, for every role (control plane and worker) expanded once by ``expand``,
each rule's name, service, protocol, ports, ``why`` and its sources *by group*
(``controlplane``, ``workers``, ``nodes``, ``admins``, ``pods``, ``nodeport-clients``,
``any``), so that a target can map a group to its own construct (an AWS security-group
reference, a Proxmox IP set, a router alias) instead of to a list of CIDRs; with them the
node subnets and the addresses each option gave, as ``expand`` parsed them. It adds the
seed's egress (443/tcp and 123/udp from the nodes; 4460/tcp for NTS from v1.14), which the Talos host firewall has no
place for (``NetworkRuleConfig`` is ingress-only).

``build_cluster`` builds the cluster from gen's options (``export --subnet ...``);
``talospatch.export.fromspec`` builds it from a cluster spec's roles. Each role's options
come from ``talospatch.generate.roles`` either way.

Pure: no printing, no files; warnings are returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from talospatch.errors import BadInput
from talospatch.generate.expand import GROUP_FIELDS, Generated, expand, wants_nodeport
from talospatch.generate.options import FIELD_NAMES, GenOptions, Labels
from talospatch.generate.profiles import Catalog
from talospatch.generate.render import documents
from talospatch.generate.roles import role_options
from talospatch.talos.documents import L4, Network, PortRange
from talospatch.talos.versions import TalosVersion, resolve

ROLES = ("controlplane", "worker")
# The groups an option feeds that default to other addresses when it is not given.
DEFAULTED = ("controlplane", "workers", "pods")


@dataclass(frozen=True)
class Source:
    """One source group of a rule and the CIDRs it stands for in this cluster."""

    group: str
    networks: tuple[Network, ...]


@dataclass(frozen=True)
class ClusterRule:
    """One Talos rule (one protocol) of one role, with its sources by group."""

    name: str  # the NetworkRuleConfig name, e.g. etcd-ingress or metallb-memberlist-ingress-tcp
    profile: str
    service: str
    protocol: L4
    ports: tuple[PortRange, ...]
    why: str
    sources: tuple[Source, ...]  # the groups that resolved to at least one CIDR
    allowed: tuple[str, ...] = ()  # every group the profile entry names (from:), resolved or not

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(s.group for s in self.sources)


@dataclass(frozen=True)
class RoleRules:
    role: str
    command: str  # the gen command line that builds this role's Talos patch
    rules: tuple[ClusterRule, ...]
    # Each document of the Talos patch with its comment, as gen writes them below its header:
    # the default action, then the rules.
    documents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Egress:
    """An outbound allowance from the nodes (the seed's "Egress" section)."""

    name: str
    protocol: L4
    port: int
    why: str


# The seed: "All nodes require outbound internet access for container image pulls, Talos
# installer images, NTP time synchronisation, cluster discovery"; its Proxmox and pfSense
# tables name 443 and 123. DNS is not in the seed: the nodes' resolver is usually inside
# the node network; targets that filter egress say so.
EGRESS = (
    Egress(
        "https-egress",
        "tcp",
        443,
        "container image pulls (ghcr.io, docker.io, quay.io), Talos installer images and cluster discovery",
    ),
    Egress("ntp-egress", "udp", 123, "NTP time synchronisation"),
)
# From v1.14 Talos syncs time with NTS by default (time.cloudflare.com): the key exchange on
# 4460/tcp, then NTP on 123/udp (talospatch.talos.versions, change nts_default).
NTS_EGRESS = Egress("nts-ke-egress", "tcp", 4460, "NTS key exchange (Talos v1.14+ default time sync)")
# DNS over TLS (RFC 7858) to the nameservers of a ResolverConfig with ``protocol: DoT``
# (siderolabs/talos pkg/machinery/config/types/network/resolver.go, NameserverConfig.Protocol,
# in v1.14.0): gen's --dns-over-tls, a spec's dnsOverTls.
DOT_EGRESS = Egress("dot-egress", "tcp", 853, "DNS over TLS to the nodes' nameservers (ResolverConfig protocol: DoT)")


def egress_for(version: str | TalosVersion | None, dns_over_tls: bool = False) -> tuple[Egress, ...]:
    """The seed's egress, with NTS key exchange for a release that uses NTS by default, and
    DNS over TLS when the nodes' resolver uses it."""
    egress = (*EGRESS, NTS_EGRESS) if resolve(version).nts_default else EGRESS
    return (*egress, DOT_EGRESS) if dns_over_tls else egress


@dataclass(frozen=True)
class Cluster:
    roles: tuple[RoleRules, ...]
    # The node subnets (the ``nodes`` group), as ``expand`` parsed and normalized them.
    subnets: tuple[Network, ...]
    # Every group a rule uses, with its CIDRs (the same for every role).
    groups: tuple[Source, ...]
    # The addresses each option gave its group (controlplane, workers, admins, pods, ...); a
    # group left to its default (controlplane/workers -> the node subnets) has none here.
    given: tuple[Source, ...] = ()
    egress: tuple[Egress, ...] = EGRESS
    warnings: tuple[str, ...] = ()
    # How the options are named in messages (gen's flags, a spec's keys).
    labels: Labels = FIELD_NAMES

    def role(self, name: str) -> RoleRules:
        for role in self.roles:
            if role.role == name:
                return role
        raise KeyError(name)

    def group(self, name: str) -> tuple[Network, ...]:
        for source in self.groups:
            if source.group == name:
                return source.networks
        return ()

    def addresses(self, group: str) -> tuple[Network, ...]:
        """The addresses an option gave ``group``; none when it was left to its default."""
        for source in self.given:
            if source.group == group:
                return source.networks
        return ()

    @property
    def defaulted(self) -> frozenset[str]:
        """Groups left to their default: controlplane/workers -> the node subnet, pods -> 10.244.0.0/16."""
        return frozenset(group for group in DEFAULTED if not self.addresses(group))

    @property
    def dual_stack(self) -> bool:
        return any(n.version == 6 for n in self.subnets)


def header_lines(cluster: Cluster, what: str) -> list[str]:
    """The first lines of a firewall target's file: what it is, and the commands of the Talos patches it mirrors."""
    return [
        f"{what}, generated by talospatch; regenerate, do not edit.",
        "The same rules as the Talos host firewall patches of:",
        *(f"  {r.command}" for r in cluster.roles),
    ]


@dataclass(frozen=True)
class Export:
    """A target's output: relative file name -> text, and warnings (not printed).

    ``warnings`` are all a user should see for this target: the cluster's (gen's warnings
    that apply to the target, prefixed with the role) and the target's own.
    """

    files: dict[str, str]
    warnings: tuple[str, ...] = ()


def cluster_of(
    generated: Mapping[str, Generated],
    *,
    labels: Labels = FIELD_NAMES,
    command: Callable[[GenOptions], str] | None = None,
) -> Cluster:
    """The cluster of each role's expansion (role -> ``expand``'s result, in ``ROLES`` order).

    ``command`` turns a role's normalized options into the line that regenerates its Talos
    patch, for the targets' headers.
    """
    roles: list[RoleRules] = []
    groups: dict[str, tuple[Network, ...]] = {}
    given: dict[str, tuple[Network, ...]] = {}
    warnings: list[str] = []
    for role, expanded in generated.items():
        rules = []
        for rule in expanded.rules:
            doc = rule.document
            sources = tuple(Source(group, tuple(nets)) for group, nets in rule.sources)
            for source in sources:
                groups.setdefault(source.group, source.networks)
            protocol: L4 = "udp" if doc.protocol == "udp" else "tcp"  # profiles allow tcp and udp only
            rules.append(
                ClusterRule(
                    name=doc.name,
                    profile=rule.profile,
                    service=rule.entry.service,
                    protocol=protocol,
                    ports=tuple(doc.ports),
                    why=rule.entry.why,
                    sources=sources,
                    allowed=rule.entry.from_,
                )
            )
        described = command(expanded.options) if command is not None else f"role {role}"
        roles.append(RoleRules(role, described, tuple(rules), tuple(documents(expanded))))
        warnings += [f"{role}: {warning}" for warning in expanded.warnings]
        for group in GROUP_FIELDS:
            if group not in expanded.sources.defaulted and expanded.sources.groups.get(group):
                given.setdefault(group, tuple(expanded.sources.groups[group]))
    order = ("nodes", *GROUP_FIELDS, "any", "link-local")
    ordered = tuple(Source(g, groups[g]) for g in order if g in groups)
    nodes = next(iter(generated.values())).sources.groups["nodes"]
    first = next(iter(generated.values())).options
    return Cluster(
        tuple(roles),
        tuple(nodes),
        ordered,
        tuple(Source(g, given[g]) for g in GROUP_FIELDS if g in given),
        egress_for(first.talos_version, first.dns_over_tls),
        tuple(warnings),
        labels,
    )


def build_cluster(
    opts: GenOptions,
    catalog: Catalog | None = None,
    *,
    labels: Labels = FIELD_NAMES,
    command: Callable[[GenOptions], str] | None = None,
) -> Cluster:
    """Every role expanded from gen's options (``opts.role`` is ignored). Raises ``BadInput`` as ``gen`` does.

    gen's options are the cluster's settings, which apply to each role where they mean
    something (``talospatch.generate.roles``); ``--tunnel`` names every role's tunnel (gen
    refuses one for a CNI without a tunnel choice), and NodePorts open wherever gen opens
    them (``--nodeport``, the nodeport add-on, ``--converged``). An address option that no
    selected rule of any role takes is an error, as in gen.
    """
    if catalog is None:
        catalog = Catalog.load(opts.profiles_dir, labels("profiles_dir"))
    if opts.nodeport_from and not wants_nodeport(opts):
        raise BadInput(f"{labels('nodeport_from')} needs {labels('nodeport')}")
    settings = opts._replace(nodeport=wants_nodeport(opts), guard_from=())
    own = {"tunnel": opts.tunnel} if opts.tunnel is not None else {}
    generated = {
        role: expand(role_options(role, settings, catalog, own=own, labels=labels), catalog, labels) for role in ROLES
    }
    used = {group for expanded in generated.values() for rule in expanded.rules for group in rule.entry.from_}
    for group, name in GROUP_FIELDS.items():
        if getattr(opts, name) and group not in used:
            raise BadInput(
                f"{labels(name)} does not apply to this cluster: no selected rule of any role allows the {group} group"
            )
    return cluster_of(generated, labels=labels, command=command)
