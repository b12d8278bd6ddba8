"""Expand a role, a CNI and add-ons into Talos firewall documents.

``GenOptions`` is the whole input, as given on the command line; ``expand`` checks it,
resolves each profile entry's source groups to CIDRs and returns the documents with what a
reviewer needs beside them (which group allowed which CIDR, why, and warnings).
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field

from talospatch.errors import BadInput
from talospatch.profiles import L4, Catalog, LoadedProfile, ProfileRule
from talospatch.talosdocs import (
    Firewall,
    IngressRule,
    Network,
    PortSelector,
    RuleConfig,
)

DEFAULT_CNI = "cilium"
DEFAULT_POD_SUBNET = "10.244.0.0/16"  # Talos's default cluster.network.podSubnets
ALL_TUNNELS = "both"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class GenOptions:
    """The options of ``gen`` (and of ``explain``, ``nft`` and ``query``), as strings."""

    role: str
    subnets: tuple[str, ...]
    cni: str = DEFAULT_CNI
    tunnel: str | None = None
    controlplane: tuple[str, ...] = ()
    workers: tuple[str, ...] = ()
    admins: tuple[str, ...] = ()
    pod_subnets: tuple[str, ...] = ()
    addons: tuple[str, ...] = ()
    nodeport: bool = False
    nodeport_from: tuple[str, ...] = ()
    profiles_dir: str | None = None
    # gen --from: addresses that must keep reaching the role's management ports.
    guard_from: tuple[str, ...] = ()


def parse_address(text: str, option: str) -> IPAddress:
    """An IP address from the command line (not a CIDR)."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise BadInput(f"{option} {text!r} is not an IP address (want e.g. 196.45.28.20)") from None


def parse_network(text: str, option: str, *, allow_address: bool) -> Network:
    """A CIDR from the command line, strictly: host bits set is an error, not a guess.

    With ``allow_address`` a bare IP means that one host (/32 or /128).
    """
    value = text.strip()
    if "/" not in value:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise BadInput(
                f"{option} {text!r} is not an IP address or CIDR (want e.g. 192.168.30.0/24)"
            ) from None
        if allow_address:
            return ipaddress.ip_network(address)
        raise BadInput(
            f"{option} {text!r} is an address, not a subnet; give the network in CIDR form, "
            f"e.g. {ipaddress.ip_network(f'{address}/24' if address.version == 4 else f'{address}/64', strict=False)}"
        )
    addr_text, _, prefix_text = value.partition("/")
    try:
        address = ipaddress.ip_address(addr_text)
    except ValueError:
        raise BadInput(
            f"{option} {text!r}: {addr_text!r} is not an IP address (want e.g. 192.168.30.0/24)"
        ) from None
    max_len = address.max_prefixlen
    if not (prefix_text.isascii() and prefix_text.isdigit()) or int(prefix_text) > max_len:
        raise BadInput(
            f"{option} {text!r}: prefix length must be 0-{max_len} for IPv{address.version}"
        )
    network = ipaddress.ip_network(f"{address}/{int(prefix_text)}", strict=False)
    if network.network_address != address:
        raise BadInput(
            f"{option} {text!r} has host bits set; did you mean {network}?"
        )
    return network


def _families(networks: list[Network]) -> tuple[list[ipaddress.IPv4Network], list[ipaddress.IPv6Network]]:
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return v4, v6


def dedupe(networks: list[Network]) -> list[Network]:
    """De-duplicated, IPv4 before IPv6, each family sorted: a group as the user gave it."""
    v4, v6 = _families(networks)
    return [*sorted(set(v4)), *sorted(set(v6))]


def collapse(networks: list[Network]) -> list[Network]:
    """De-duplicated and collapsed, IPv4 before IPv6, each family sorted: a rule's sources."""
    v4, v6 = _families(networks)
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


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
class Generated:
    options: GenOptions
    command: str
    rules: list[GeneratedRule]
    warnings: list[str] = field(default_factory=list)
    # The role's management ports that the lockout guard checks, and the addresses
    # (``gen --from``) that must keep reaching them.
    lockout_ports: tuple[tuple[int, L4], ...] = ()
    guard_addresses: tuple[IPAddress, ...] = ()
    # The pod subnets, for the pod/service rules of the compiled ruleset.
    pod_subnets: tuple[Network, ...] = ()

    @property
    def firewall(self) -> Firewall:
        return Firewall("block", tuple(r.document for r in self.rules))


def _resolve_sources(opts: GenOptions) -> Sources:
    if not opts.subnets:
        raise BadInput("--subnet is required: the node subnet(s) of the cluster, e.g. 192.168.30.0/24")
    nodes = dedupe([parse_network(s, "--subnet", allow_address=False) for s in opts.subnets])
    any_ = [ipaddress.ip_network("0.0.0.0/0")]
    if any(n.version == 6 for n in nodes):
        any_.append(ipaddress.ip_network("::/0"))

    def given(values: tuple[str, ...], option: str, *, allow_address: bool) -> list[Network]:
        return dedupe([parse_network(v, option, allow_address=allow_address) for v in values])

    groups: dict[str, list[Network]] = {
        "nodes": nodes,
        "controlplane": given(opts.controlplane, "--controlplane", allow_address=True),
        "workers": given(opts.workers, "--workers", allow_address=True),
        "admins": given(opts.admins, "--admin", allow_address=True),
        "pods": given(opts.pod_subnets, "--pod-subnet", allow_address=False),
        "nodeport-clients": given(opts.nodeport_from, "--nodeport-from", allow_address=True),
        "any": any_,
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


# Which option feeds which source group, to reject options that change nothing.
_GROUP_OPTIONS = {
    "controlplane": ("--controlplane", "controlplane"),
    "workers": ("--workers", "workers"),
    "admins": ("--admin", "admins"),
    "pods": ("--pod-subnet", "pod_subnets"),
    "nodeport-clients": ("--nodeport-from", "nodeport_from"),
}


def _select(opts: GenOptions, catalog: Catalog) -> tuple[list[LoadedProfile], list[str]]:
    """The profiles in output order (role, CNI, add-ons by name) and the tunnels chosen."""
    role = catalog.get(opts.role, "role")
    cni = catalog.get(opts.cni, "cni")
    addons = sorted(set(opts.addons) | ({"nodeport"} if opts.nodeport else set()))
    selected = [role, cni, *(catalog.get(name, "addon") for name in addons)]
    for loaded in selected[2:]:
        if loaded.profile.roles and opts.role not in loaded.profile.roles:
            raise BadInput(
                f"add-on {loaded.name} applies to role {', '.join(loaded.profile.roles)} only, "
                f"not {opts.role}"
            )
    tunnels = list(cni.profile.tunnels)
    if opts.tunnel is not None:
        if not tunnels:
            raise BadInput(f"--tunnel does not apply to CNI {cni.name}: it has no tunnel choice")
        valid = [*tunnels, ALL_TUNNELS]
        if opts.tunnel not in valid:
            raise BadInput(f"unknown tunnel {opts.tunnel!r} for {cni.name}; valid: {', '.join(valid)}")
        if opts.tunnel != ALL_TUNNELS:
            tunnels = [opts.tunnel]
    return selected, tunnels


def normalized_command(
    opts: GenOptions, sources: Sources, tunnels: list[str], cni_tunnels: bool, guarded: tuple[IPAddress, ...]
) -> str:
    """The command line that reproduces this output, options in a fixed order."""
    words = ["talospatch", "gen", "--role", opts.role, "--cni", opts.cni]
    if cni_tunnels:
        words += ["--tunnel", tunnels[0] if len(tunnels) == 1 else ALL_TUNNELS]
    for net in sources.groups["nodes"]:
        words += ["--subnet", str(net)]
    for group, (option, attr) in _GROUP_OPTIONS.items():
        if getattr(opts, attr):
            for net in sources.groups[group]:
                words += [option, str(net)]
    if opts.nodeport or "nodeport" in opts.addons:
        words.append("--nodeport")
    for name in sorted(set(opts.addons) - {"nodeport"}):
        words += ["--with", name]
    if opts.profiles_dir is not None:
        words += ["--profiles-dir", opts.profiles_dir]
    for address in guarded:
        words += ["--from", str(address)]
    return shlex.join(words)


def expand(opts: GenOptions, catalog: Catalog | None = None) -> Generated:
    """Check the options and build the documents. Pure: warnings are returned, not printed."""
    catalog = catalog if catalog is not None else Catalog.load(opts.profiles_dir)
    sources = _resolve_sources(opts)
    if opts.nodeport_from and not (opts.nodeport or "nodeport" in opts.addons):
        raise BadInput("--nodeport-from needs --nodeport")
    selected, tunnels = _select(opts, catalog)

    rules: list[GeneratedRule] = []
    owner: dict[str, LoadedProfile] = {}
    used_groups: set[str] = set()
    warnings: list[str] = []
    for loaded in selected:
        for entry in loaded.profile.rules:
            if entry.tunnel is not None and entry.tunnel not in tunnels:
                continue
            used_groups.update(entry.from_)
            by_group = [(g, sources.groups[g]) for g in entry.from_ if sources.groups[g]]
            cidrs = collapse([n for _, nets in by_group for n in nets])
            if not cidrs:
                missing = ", ".join(entry.from_)
                warnings.append(
                    f"{entry.name}: no source in {missing} was given, so the rule is left out "
                    "and the port stays closed"
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

    for group, (option, attr) in _GROUP_OPTIONS.items():
        if getattr(opts, attr) and group not in used_groups:
            raise BadInput(
                f"{option} does not apply to role {opts.role} with CNI {opts.cni}: "
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
            warnings.append(
                f"no --controlplane: {', '.join(widened)} allow the whole node subnet ({nodes}); "
                "pass --controlplane with each control-plane node's address"
            )
    admin_rules = [r.document.name for r in rules if "admins" in r.entry.from_]
    if admin_rules and not opts.admins:
        warnings.append(
            f"no --admin: {', '.join(admin_rules)} allow no one outside the cluster ({nodes}), "
            "so talosctl and kubectl work only from inside the node subnet"
        )

    firewall = Firewall("block", tuple(r.document for r in rules))
    try:
        firewall.check()
    except ValueError as exc:  # a profile combination Talos would reject
        raise BadInput(str(exc)) from None
    guarded = {parse_address(a, "--from") for a in opts.guard_from}
    guard_addresses = tuple(sorted(guarded, key=lambda a: (a.version, int(a))))
    command = normalized_command(opts, sources, tunnels, bool(selected[1].profile.tunnels), guard_addresses)
    return Generated(
        opts, command, rules, warnings,
        # apid is on every Talos node: a custom role without a list still guards it.
        lockout_ports=selected[0].profile.lockout or ((50000, "tcp"),),
        guard_addresses=guard_addresses,
        pod_subnets=tuple(sources.groups["pods"]),
    )
