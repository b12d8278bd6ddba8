"""Expand a role, a CNI and add-ons into Talos firewall documents.

``GenOptions`` is the whole input, as given on the command line; ``expand`` checks it,
resolves each profile entry's source groups to CIDRs and returns the documents with what a
reviewer needs beside them (which group allowed which CIDR, why, and warnings).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from talospatch.errors import BadInput
from talospatch.generate.compact import group_rules, shared_document
from talospatch.generate.options import ALL_TUNNELS, DEFAULT_CNI, DEFAULT_POD_SUBNET, FIELD_NAMES, GenOptions, Labels
from talospatch.generate.profiles import GROUPS, Catalog, LoadedProfile, ProfileRule
from talospatch.talos.addresses import (
    LINK_LOCAL,
    IPAddress,
    address_order,
    collapse,
    dedupe,
    parse_address,
    parse_network,
)
from talospatch.talos.documents import (
    L4,
    Firewall,
    IngressRule,
    Network,
    PortSelector,
    RuleConfig,
)
from talospatch.talos.versions import DEFAULT_VERSION, TalosVersion, parse_talos_version

__all__ = ["GenOptions", "Generated", "GeneratedDocument", "GeneratedRule", "Sources", "expand"]


@dataclass(frozen=True)
class Sources:
    """Each source group's CIDRs, and which groups were left to their default."""

    groups: dict[str, list[Network]]
    defaulted: frozenset[str]


@dataclass(frozen=True)
class GeneratedRule:
    """One NetworkRuleConfig with the profile entry it came from."""

    document: RuleConfig
    profile: str
    entry: ProfileRule
    # The source groups of the entry, each with the CIDRs it contributed.
    sources: list[tuple[str, list[Network]]]


@dataclass(frozen=True)
class GeneratedDocument:
    """One NetworkRuleConfig of the output and the services it carries: one, or with
    ``compact`` every service of its protocol and sources."""

    document: RuleConfig
    rules: tuple[GeneratedRule, ...]

    @property
    def shared(self) -> bool:
        return len(self.rules) > 1

    @property
    def source_groups(self) -> list[tuple[str, list[Network]]]:
        """The source groups of its services, each once, in the order of ``GROUPS``."""
        groups = {group: nets for rule in self.rules for group, nets in rule.sources}
        return [(group, groups[group]) for group in GROUPS if group in groups]


@dataclass(frozen=True)
class Generated:
    """The documents of one role, with what a reviewer needs beside them.

    ``options`` is the request in its normal form: defaults filled in, networks and
    addresses normalized and de-duplicated, add-ons sorted; the same documents come from
    it again, so it is what a header shows to reproduce the output.
    """

    options: GenOptions
    # One per profile entry and protocol: what explain lists and the lockout guard reads.
    rules: list[GeneratedRule]
    # What the patch holds: one per rule, or with ``compact`` one per protocol and sources.
    documents: list[GeneratedDocument]
    warnings: list[str] = field(default_factory=list)
    # The role's management ports that the lockout guard checks, and the addresses
    # (``guard_from``) that must keep reaching them.
    lockout_ports: tuple[tuple[int, L4], ...] = ()
    guard_addresses: tuple[IPAddress, ...] = ()
    # The pod subnets, for the pod/service rules of the compiled ruleset.
    pod_subnets: tuple[Network, ...] = ()
    # Lines for the patch header: why a choice opens nothing, or what an option changed.
    notes: list[str] = field(default_factory=list)
    # The Talos release the documents are for.
    version: TalosVersion = DEFAULT_VERSION
    # Every source group's networks, parsed once (the node subnets are ``groups["nodes"]``).
    sources: Sources = field(default_factory=lambda: Sources({}, frozenset()))

    @property
    def firewall(self) -> Firewall:
        return Firewall("block", tuple(d.document for d in self.documents))


# The source groups that an option feeds (group -> GenOptions field), to reject options that
# change nothing.
GROUP_FIELDS = {
    "controlplane": "controlplane",
    "workers": "workers",
    "admins": "admins",
    "pods": "pod_subnets",
    "nodeport-clients": "nodeport_from",
    "bgp-peers": "bgp_peers",
    "load-balancers": "load_balancers",
    "kubespan-peers": "kubespan_peers",
}

CONVERGED_ROLE = "controlplane"
# The role whose add-ons a converged control plane may take.
CONVERGED_TAKES = "worker"


def wants_nodeport(opts: GenOptions) -> bool:
    """NodePorts are opened: the nodeport option, the nodeport add-on, or a converged control plane."""
    return opts.nodeport or "nodeport" in opts.addons or opts.converged


def _resolve_sources(opts: GenOptions, label: Labels) -> Sources:
    if not opts.subnets:
        raise BadInput(f"{label('subnets')} is required: the node subnet(s) of the cluster, e.g. 192.168.30.0/24")
    nodes = dedupe([parse_network(s, label("subnets"), allow_address=False) for s in opts.subnets])
    any_ = [ipaddress.ip_network("0.0.0.0/0")]
    if any(n.version == 6 for n in nodes):
        any_.append(ipaddress.ip_network("::/0"))

    def given(name: str, *, allow_address: bool) -> list[Network]:
        values: tuple[str, ...] = getattr(opts, name)
        return dedupe([parse_network(v, label(name), allow_address=allow_address) for v in values])

    groups: dict[str, list[Network]] = {
        "nodes": nodes,
        "controlplane": given("controlplane", allow_address=True),
        "workers": given("workers", allow_address=True),
        "admins": given("admins", allow_address=True),
        "pods": given("pod_subnets", allow_address=False),
        "nodeport-clients": given("nodeport_from", allow_address=True),
        "bgp-peers": given("bgp_peers", allow_address=True),
        "load-balancers": given("load_balancers", allow_address=True),
        "kubespan-peers": given("kubespan_peers", allow_address=True),
        "any": any_,
        "link-local": [LINK_LOCAL],
    }
    defaulted: set[str] = set()
    for group in ("controlplane", "workers"):
        if not groups[group]:
            groups[group] = nodes
            defaulted.add(group)
    if not groups["pods"]:
        groups["pods"] = [ipaddress.ip_network(DEFAULT_POD_SUBNET)]
        defaulted.add("pods")
    return Sources(groups, frozenset(defaulted))


def _verb(singular: str, subjects: list[str]) -> str:
    """``allows`` after one subject, ``allow`` after several."""
    return singular if len(subjects) == 1 else singular.removesuffix("s")


def _nets_text(networks: list[Network]) -> str:
    return ", ".join(str(n) for n in networks)


def _check_scope(opts: GenOptions, sources: Sources, label: Labels) -> None:
    """Errors for requests whose scope is certainly wrong: everyone as the node subnet, pods among the nodes."""
    nodes = sources.groups["nodes"]
    for subnet in nodes:
        if subnet.prefixlen == 0:
            raise BadInput(
                f"{label('subnets')} {subnet} is every address: etcd, the kubelet and trustd would be open to "
                f"the whole internet; give the subnet the nodes are on, e.g. "
                f"{'192.168.30.0/24' if subnet.version == 4 else 'fd00:30::/64'}"
            )
    if "pods" not in sources.defaulted:
        for pod in sources.groups["pods"]:
            clash = [n for n in nodes if n.version == pod.version and n.overlaps(pod)]
            if clash:
                raise BadInput(
                    f"{label('pod_subnets')} {pod} overlaps {label('subnets')} {_nets_text(clash)}: pod and node "
                    "addresses must be disjoint, and a rule for the pods would also admit the nodes (or the "
                    "other way round); give the cluster's podSubnets"
                )


def _scope_warnings(opts: GenOptions, sources: Sources, label: Labels) -> list[str]:
    """Warnings for requests that may be meant but probably are not."""
    warnings: list[str] = []
    nodes = sources.groups["nodes"]
    if "pods" in sources.defaulted:
        for pod in sources.groups["pods"]:
            clash = [n for n in nodes if n.version == pod.version and n.overlaps(pod)]
            if clash:
                warnings.append(
                    f"the default pod subnet {pod} overlaps {label('subnets')} {_nets_text(clash)}; "
                    f"pass {label('pod_subnets')} with the cluster's podSubnets"
                )
    if "controlplane" not in sources.defaulted:
        outside = [
            c
            for c in sources.groups["controlplane"]
            if not any(c.version == n.version and c.subnet_of(n) for n in nodes)  # type: ignore[arg-type]
        ]
        if outside:
            warnings.append(
                f"{label('controlplane')} {_nets_text(outside)} {'is' if len(outside) == 1 else 'are'} outside every "
                f"{label('subnets')} ({_nets_text(nodes)}), so the rules for all nodes (kubelet, apid) do not "
                f"admit {'it' if len(outside) == 1 else 'them'}; add {'its' if len(outside) == 1 else 'their'} "
                f"subnet with {label('subnets')}, or correct the address"
            )
    return warnings


def _select(opts: GenOptions, catalog: Catalog, label: Labels) -> tuple[list[LoadedProfile], list[str]]:
    """The profiles in output order (role, CNI, add-ons by name) and the tunnels chosen."""
    role = catalog.get(opts.role, "role")
    cni = catalog.get(opts.cni or DEFAULT_CNI, "cni")
    if opts.converged and opts.role != CONVERGED_ROLE:
        raise BadInput(
            f"{label('converged')} applies to role {CONVERGED_ROLE} (control-plane nodes that run workloads), "
            f"not {opts.role}"
        )
    addons = sorted(set(opts.addons) | ({"nodeport"} if wants_nodeport(opts) else set()))
    selected = [role, cni, *(catalog.get(name, "addon") for name in addons)]
    roles = {opts.role, CONVERGED_TAKES} if opts.converged else {opts.role}
    for loaded in selected[2:]:
        if loaded.profile.roles and not roles & set(loaded.profile.roles):
            hint = ""
            if opts.role == CONVERGED_ROLE and CONVERGED_TAKES in loaded.profile.roles:
                hint = f" (or {label('converged')}, for a control plane that runs workloads)"
            raise BadInput(
                f"add-on {loaded.name} applies to role {', '.join(loaded.profile.roles)} only, not {opts.role}{hint}"
            )
    tunnels = list(cni.profile.tunnels)
    if opts.tunnel is not None:
        if not tunnels:
            raise BadInput(f"{label('tunnel')} does not apply to CNI {cni.name}: it has no tunnel choice")
        valid = tunnel_choices(cni)
        if opts.tunnel not in valid:
            raise BadInput(f"unknown tunnel {opts.tunnel!r} for {cni.name}; valid: {', '.join(valid)}")
        if opts.tunnel != ALL_TUNNELS:
            tunnels = [opts.tunnel]
    return selected, tunnels


def used_groups(opts: GenOptions, catalog: Catalog, labels: Labels = FIELD_NAMES) -> frozenset[str]:
    """The source groups the role's selected rules allow (after the tunnel choice).

    Lets a caller that expands several roles from one set of options pass each role only
    the group options it uses (``expand`` rejects an option that changes nothing).
    """
    selected, tunnels = _select(opts, catalog, labels)
    return frozenset(
        group
        for loaded in selected
        for entry in loaded.profile.rules
        if entry.tunnel is None or entry.tunnel in tunnels
        for group in entry.from_
    )


def tunnel_choices(cni: LoadedProfile) -> list[str]:
    """A CNI's tunnel values: those that open ports, then "both" (all of them), then those that open none."""
    carry = {r.tunnel for r in cni.profile.rules}
    tunnels = cni.profile.tunnels
    return [*(t for t in tunnels if t in carry), ALL_TUNNELS, *(t for t in tunnels if t not in carry)]


def _normal_form(
    opts: GenOptions,
    sources: Sources,
    cni: LoadedProfile,
    tunnels: list[str],
    guarded: tuple[IPAddress, ...],
    version: TalosVersion,
) -> GenOptions:
    """The request with defaults filled in and every value in its normalized spelling."""

    def nets(group: str) -> tuple[str, ...]:
        return tuple(str(n) for n in sources.groups[group]) if getattr(opts, GROUP_FIELDS[group]) else ()

    tunnel = None
    if cni.profile.tunnels:
        tunnel = tunnels[0] if len(tunnels) == 1 else ALL_TUNNELS
    return opts._replace(
        cni=cni.name,
        tunnel=tunnel,
        subnets=tuple(str(n) for n in sources.groups["nodes"]),
        controlplane=nets("controlplane"),
        workers=nets("workers"),
        admins=nets("admins"),
        pod_subnets=nets("pods"),
        nodeport_from=nets("nodeport-clients"),
        bgp_peers=nets("bgp-peers"),
        load_balancers=nets("load-balancers"),
        kubespan_peers=nets("kubespan-peers"),
        # A converged control plane opens NodePorts by itself.
        nodeport=wants_nodeport(opts) and not opts.converged,
        addons=tuple(sorted(set(opts.addons) - {"nodeport"})),
        guard_from=tuple(str(a) for a in guarded),
        talos_version=version.name,
    )


def expand(opts: GenOptions, catalog: Catalog | None = None, labels: Labels = FIELD_NAMES) -> Generated:
    """Check the options and build the documents. Pure: warnings are returned, not printed.

    ``labels`` names the options in messages as the user spelled them.
    """
    label = labels
    if catalog is None:
        catalog = Catalog.load(opts.profiles_dir, label("profiles_dir"))
    version = parse_talos_version(opts.talos_version)
    sources = _resolve_sources(opts, label)
    _check_scope(opts, sources, label)
    if opts.nodeport_from and not wants_nodeport(opts):
        raise BadInput(f"{label('nodeport_from')} needs {label('nodeport')} (or {label('converged')})")
    selected, tunnels = _select(opts, catalog, label)
    for loaded in selected:
        loaded.require_release(version.version, label("talos_version"))

    rules: list[GeneratedRule] = []
    owner: dict[str, LoadedProfile] = {}
    used_groups: set[str] = set()
    warnings: list[str] = []
    collapsed: dict[tuple[str, ...], list[Network]] = {}
    for loaded in selected:
        for entry in loaded.profile.rules:
            if entry.tunnel is not None and entry.tunnel not in tunnels:
                continue
            used_groups.update(entry.from_)
            by_group = [(g, sources.groups[g]) for g in entry.from_ if sources.groups[g]]
            if entry.from_ not in collapsed:  # many rules share their groups
                collapsed[entry.from_] = collapse([n for _, nets in by_group for n in nets])
            cidrs = collapsed[entry.from_]
            if not cidrs:
                missing = ", ".join(entry.from_)
                warnings.append(
                    f"{entry.name}: no source in {missing} was given, so the rule is left out and the port stays closed"
                )
                continue
            for name, proto in entry.document_names():
                if name in owner:
                    raise BadInput(
                        f"{loaded.path}: rule {name}: the name is already used by profile "
                        f"{owner[name].name} ({owner[name].path}); rule names must be unique"
                    )
                owner[name] = loaded
                document = RuleConfig(
                    name=name,
                    portSelector=PortSelector(ports=entry.ports, protocol=proto),
                    ingress=tuple(IngressRule(subnet=c) for c in cidrs),
                )
                rules.append(GeneratedRule(document, loaded.name, entry, by_group))

    for group, name in GROUP_FIELDS.items():
        if getattr(opts, name) and group not in used_groups:
            raise BadInput(
                f"{label(name)} does not apply to role {opts.role} with CNI {selected[1].name}: "
                f"no selected rule allows the {group} group"
            )

    selected_names = {p.name for p in selected}
    for loaded in selected:
        for other, message in sorted(loaded.profile.warn_with.items()):
            if other in selected_names:
                warnings.append(f"{loaded.name} with {other}: {message}")
    nodes = ", ".join(str(n) for n in sources.groups["nodes"])
    if "controlplane" in sources.defaulted:
        widened = [r.document.name for r in rules if any(g == "controlplane" for g, _ in r.sources)]
        if widened:
            flag = label("controlplane")
            warnings.append(
                f"no {flag}: {', '.join(widened)} {_verb('allows', widened)} the whole node subnet ({nodes}); "
                f"pass {flag} with each control-plane node's address"
            )
    admin_rules = [r.document.name for r in rules if "admins" in r.entry.from_]
    if admin_rules and not opts.admins:
        warnings.append(
            f"no {label('admins')}: {', '.join(admin_rules)} {_verb('allows', admin_rules)} no one outside the "
            f"cluster ({nodes}), so talosctl and kubectl work only from inside the node subnet"
        )
    warnings.extend(_scope_warnings(opts, sources, label))

    notes: list[str] = []
    cni = selected[1]
    if opts.tunnel is not None and len(tunnels) == 1 and tunnels[0] in cni.profile.tunnel_notes:
        notes.append(f"{label('tunnel')} {tunnels[0]}: {cni.profile.tunnel_notes[tunnels[0]]}")
    if opts.converged:
        notes.append(
            f"{label('converged')}: a control plane that runs workloads (cluster.allowSchedulingOnControlPlanes: "
            "true) gets the worker-side rules too: NodePorts and the add-ons for workers"
        )

    if opts.compact:
        shares = group_rules([r.document for r in rules])
        members = [[rules[i] for i in share] for share in shares]
        documents = [
            GeneratedDocument(shared_document([(r.document, [g for g, _ in r.sources]) for r in m], GROUPS), tuple(m))
            for m in members
        ]
    else:
        documents = [GeneratedDocument(r.document, (r,)) for r in rules]
    firewall = Firewall("block", tuple(d.document for d in documents))
    try:
        firewall.check()
    except ValueError as exc:  # a profile combination Talos would reject
        raise BadInput(str(exc)) from None
    if version.warning is not None:
        warnings.append(version.warning)
    guarded = {parse_address(a, label("guard_from")) for a in opts.guard_from}
    guard_addresses = tuple(sorted(guarded, key=address_order))
    return Generated(
        _normal_form(opts, sources, selected[1], tunnels, guard_addresses, version.version),
        rules,
        documents,
        warnings,
        # apid is on every Talos node: a custom role without a list still guards it.
        lockout_ports=selected[0].profile.lockout or ((50000, "tcp"),),
        guard_addresses=guard_addresses,
        pod_subnets=tuple(sources.groups["pods"]),
        notes=notes,
        version=version.version,
        sources=sources,
    )
