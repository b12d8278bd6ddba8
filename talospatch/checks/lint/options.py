"""What the files do not say: the options a lint run is given (``LintOptions``), parsed
from strings by ``lint_options``."""

from __future__ import annotations

from dataclasses import dataclass, field

from talospatch.errors import BadInput
from talospatch.generate.expand import tunnel_choices
from talospatch.generate.options import FIELD_NAMES, Labels
from talospatch.generate.profiles import Catalog, LoadedProfile
from talospatch.nft.compile import NodeContext
from talospatch.talos.addresses import IPAddress, parse_address, parse_network
from talospatch.talos.context import Given
from talospatch.talos.documents import L4, Network
from talospatch.talos.versions import TalosVersion, parse_talos_version


@dataclass(frozen=True)
class LintOptions:
    """What the files do not say: the cluster's addresses and the profiles the nodes need."""

    controlplane: tuple[Network, ...] = ()
    subnets: tuple[Network, ...] = ()
    guard_from: tuple[IPAddress, ...] = ()
    profiles: tuple[LoadedProfile, ...] = ()
    tunnel: str | None = None
    lockout_ports: tuple[tuple[int, L4], ...] = ()
    context: NodeContext = field(default_factory=NodeContext)
    labels: Labels = FIELD_NAMES
    # The Talos release the nodes run; None: unknown, so every release's hazards are reported.
    version: TalosVersion | None = None
    # Rule codes whose findings are not reported (the checks still run: a rule Talos ignores stays ignored).
    ignore: frozenset[str] = frozenset()
    # What the command line says of the node: it wins over what the files' configs say.
    given: Given = field(default_factory=Given)
    # The profiles folder the catalog adds (worker add-ons a converged control plane lacks are named from it).
    profiles_dir: str | None = None
    # The other nodes checked in the same run (check without --merge) that are no control plane:
    # each file's name and the names of the rules its firewall holds.
    beside: tuple[tuple[str, frozenset[str]], ...] = ()


def lint_options(
    *,
    role: str | None = None,
    cni: str | None = None,
    tunnel: str | None = None,
    addons: tuple[str, ...] = (),
    subnets: tuple[str, ...] = (),
    controlplane: tuple[str, ...] = (),
    guard_from: tuple[str, ...] = (),
    profiles_dir: str | None = None,
    talos_version: str | None = None,
    labels: Labels = FIELD_NAMES,
    ignore: frozenset[str] = frozenset(),
    pod_subnets: tuple[str, ...] = (),
    service_subnets: tuple[str, ...] = (),
    no_host_dns: bool = False,
    no_kube_proxy: bool = False,
    converged: bool = False,
) -> LintOptions:
    """Parse the strings; ``BadInput`` names the option of a bad value (``ignore``: see
    ``registry.ignorable``)."""
    given = Given(
        pod_subnets=tuple(parse_network(p, labels("pod_subnets"), allow_address=False) for p in pod_subnets),
        service_subnets=tuple(
            parse_network(s, labels("service_subnets"), allow_address=False) for s in service_subnets
        ),
        no_host_dns=no_host_dns,
        no_kube_proxy=no_kube_proxy,
        converged=converged,
    )
    nets = tuple(parse_network(s, labels("subnets"), allow_address=False) for s in subnets)
    planes = tuple(parse_network(c, labels("controlplane"), allow_address=True) for c in controlplane)
    addresses = tuple(dict.fromkeys(parse_address(a, labels("guard_from")) for a in guard_from))
    selected: list[LoadedProfile] = []
    lockout: tuple[tuple[int, L4], ...] = ()
    if role or cni or addons or tunnel:
        catalog = Catalog.load(profiles_dir, labels("profiles_dir"))
        if role:
            loaded = catalog.get(role, "role")
            selected.append(loaded)
            lockout = loaded.profile.lockout
        if cni:
            selected.append(catalog.get(cni, "cni"))
        selected += [catalog.get(name, "addon") for name in sorted(set(addons))]
        if tunnel is not None:
            with_tunnels = [p for p in selected if p.profile.tunnels]
            if not with_tunnels:
                raise BadInput(f"{labels('tunnel')} needs {labels('cni')} with a tunnel choice (cilium)")
            valid = tunnel_choices(with_tunnels[0])
            if tunnel not in valid:
                raise BadInput(f"unknown tunnel {tunnel!r}; valid: {', '.join(valid)}")
    version = None if talos_version is None else parse_talos_version(talos_version).version
    if version is not None:
        for loaded in selected:
            loaded.require_release(version, labels("talos_version"))
    return LintOptions(
        planes,
        nets,
        addresses,
        tuple(selected),
        tunnel,
        lockout,
        labels=labels,
        version=version,
        ignore=ignore,
        given=given,
        profiles_dir=profiles_dir,
    )
