"""The cluster model every export target shares.

``build_cluster`` expands every role (control plane and worker) from one set of cluster
options, the way ``gen`` expands one role, and keeps per role each rule's name, service,
protocol, ports, ``why`` and its sources *by group* (``controlplane``, ``workers``,
``nodes``, ``admins``, ``pods``, ``nodeport-clients``, ``any``), so that a target can map a
group to its own construct (an AWS security-group reference, a Proxmox IP set) instead of
to a list of CIDRs. It adds the seed's egress (443/tcp and 123/udp from the nodes; 4460/tcp for NTS from v1.14), which
the Talos host firewall has no place for (``NetworkRuleConfig`` is ingress-only).

Pure: no printing, no files; warnings are returned.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from talospatch.errors import BadInput
from talospatch.generate.expand import GROUP_FIELDS, expand, used_groups, wants_nodeport
from talospatch.generate.options import FIELD_NAMES, GenOptions, Labels
from talospatch.generate.profiles import Catalog
from talospatch.talos.documents import L4, Network, PortRange
from talospatch.talos.versions import TalosVersion, resolve

ROLES = ("controlplane", "worker")

# gen's options without a role: every role is expanded from them.
ClusterOptions = GenOptions


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


def egress_for(version: str | TalosVersion | None) -> tuple[Egress, ...]:
    """The seed's egress, with NTS key exchange for a release that uses NTS by default."""
    return (*EGRESS, NTS_EGRESS) if resolve(version).nts_default else EGRESS


@dataclass(frozen=True)
class Cluster:
    options: ClusterOptions
    roles: tuple[RoleRules, ...]
    # Every group a rule uses, with its CIDRs (the same for every role).
    groups: tuple[Source, ...]
    # Groups left to their default: controlplane/workers -> the node subnet, pods -> 10.244.0.0/16.
    defaulted: frozenset[str]
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

    @property
    def subnets(self) -> tuple[Network, ...]:
        """The node subnets (the ``nodes`` group), as given."""
        return tuple(ipaddress.ip_network(s.strip()) for s in self.options.subnets)

    @property
    def dual_stack(self) -> bool:
        return any(n.version == 6 for n in self.subnets)


@dataclass(frozen=True)
class Export:
    """A target's output: relative file name -> text, and warnings (not printed).

    ``warnings`` are all a user should see for this target: the cluster's (gen's warnings
    that apply to the target, prefixed with the role) and the target's own.
    """

    files: dict[str, str]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    render: Callable[[Cluster], Export]
    # True when the target writes one file, which the CLI may print to stdout.
    single_file: bool = field(default=False)


@dataclass(frozen=True)
class RoleInput:
    """One role's own gen request (a cluster spec's role), used instead of its share of the cluster options."""

    options: GenOptions
    catalog: Catalog
    labels: Labels


def role_options(opts: GenOptions, role: str, catalog: Catalog, labels: Labels = FIELD_NAMES) -> GenOptions:
    """One role's options: the add-ons and group options that apply to it."""
    # An add-on limited to some roles (etcd-metrics, nodeport) goes to those roles only.
    # A converged control plane takes the workers' add-ons and NodePorts too.
    converged = opts.converged and role == "controlplane"
    nodeport = wants_nodeport(opts) and (converged or _applies("nodeport", role, catalog))
    cleared: dict[str, Any] = dict.fromkeys(GROUP_FIELDS.values(), ())
    base = opts._replace(
        role=role,
        addons=tuple(name for name in opts.addons if converged or _applies(name, role, catalog)),
        nodeport=nodeport and not converged,
        converged=converged,
        **cleared,
        guard_from=(),
    )
    groups = used_groups(base, catalog, labels)
    given: dict[str, Any] = {
        name: getattr(opts, name) if group in groups else () for group, name in GROUP_FIELDS.items()
    }
    if nodeport:
        given["nodeport_from"] = opts.nodeport_from
    return base._replace(**given)


def _applies(addon: str, role: str, catalog: Catalog) -> bool:
    roles = catalog.get(addon, "addon").profile.roles
    return not roles or role in roles


def build_cluster(
    opts: GenOptions,
    catalog: Catalog | None = None,
    *,
    labels: Labels = FIELD_NAMES,
    command: Callable[[GenOptions], str] | None = None,
    per_role: Mapping[str, RoleInput] | None = None,
) -> Cluster:
    """Expand every role from ``opts`` (its role is ignored). Raises ``BadInput`` as ``gen`` does.

    ``command`` turns a role's normalized options into the line that regenerates its Talos
    patch, for the targets' headers. ``per_role`` (a cluster spec's) gives each role its own
    request instead; ``opts`` then holds the addresses of every source group, the same for
    every role (``talospatch.export.fromspec``).
    """
    if catalog is None:
        catalog = Catalog.load(opts.profiles_dir, labels("profiles_dir"))
    if opts.nodeport_from and not wants_nodeport(opts):
        raise BadInput(f"{labels('nodeport_from')} needs {labels('nodeport')}")
    roles: list[RoleRules] = []
    groups: dict[str, tuple[Network, ...]] = {}
    warnings: list[str] = []
    used: set[str] = set()
    for role in ROLES:
        if per_role is not None:
            own = per_role[role]
            generated = expand(own.options, own.catalog, own.labels)
        else:
            generated = expand(role_options(opts, role, catalog, labels), catalog, labels)
        rules = []
        for rule in generated.rules:
            doc = rule.document
            sources = tuple(Source(group, tuple(nets)) for group, nets in rule.sources)
            for source in sources:
                groups.setdefault(source.group, source.networks)
            used.update(rule.entry.from_)
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
        described = command(generated.options) if command is not None else f"role {role}"
        roles.append(RoleRules(role, described, tuple(rules)))
        warnings += [f"{role}: {warning}" for warning in generated.warnings]
    for group, name in GROUP_FIELDS.items():
        if getattr(opts, name) and group not in used:
            raise BadInput(
                f"{labels(name)} does not apply to this cluster: no selected rule of any role allows the {group} group"
            )
    # Groups left to their default: controlplane/workers -> the node subnet, pods -> 10.244.0.0/16.
    defaulted = frozenset(
        group for group in ("controlplane", "workers", "pods") if not getattr(opts, GROUP_FIELDS[group])
    )
    order = ("nodes", *GROUP_FIELDS, "any")
    ordered = tuple(Source(g, groups[g]) for g in order if g in groups)
    return Cluster(opts, tuple(roles), ordered, defaulted, egress_for(opts.talos_version), tuple(warnings), labels)
