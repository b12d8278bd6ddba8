"""Export targets from a cluster spec: ``export TARGET --spec`` and the spec's ``exports:``.

A spec's top-level settings are the cluster's options; each role keeps its own request
(``LoadedSpec.request``), so per-role add-ons, CNI, NodePorts and extra rules are honoured
exactly as ``build`` honours them in the Talos patches. What no target can honour is a source
group with different addresses per role: every target names a group once for the whole
cluster (an AWS security-group reference, a Proxmox IP set, a pfSense alias), so a per-role
address setting that differs from another role's is an error naming the spec's line and key.

Pure: no printing, no files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from talospatch.errors import BadInput
from talospatch.export import ROLES, TARGETS, Cluster, Export, build_cluster
from talospatch.export.cluster import RoleInput
from talospatch.generate.expand import GROUP_FIELDS
from talospatch.generate.options import GenOptions, Labels
from talospatch.generate.profiles import Catalog
from talospatch.spec.load import LoadedSpec
from talospatch.spec.model import KEYS, ROUTED_TARGETS, ExportSpec

# The options whose addresses a target names once for the whole cluster.
ADDRESS_FIELDS = ("subnets", *GROUP_FIELDS.values())


@dataclass(frozen=True)
class ClusterRequest:
    """One export request: the cluster's options and, from a spec, each role's own request.

    From gen's options (``export --subnet ...``) there is no catalog yet and no per-role input.
    """

    options: GenOptions
    labels: Labels
    catalog: Catalog | None
    roles: dict[str, RoleInput] | None
    command: Callable[[GenOptions], str]


@dataclass(frozen=True)
class Router:
    """The pfsense/opnsense options: the node VLAN's interface, where outside sources arrive, NTP servers."""

    cluster_interface: str = "opt1"
    from_interfaces: tuple[str, ...] = ("lan",)
    ntp_servers: tuple[str, ...] = ()
    # opnsense: the firewall's own rules CSV (its text and name), to list stale talospatch rules.
    current_rules: str | None = None
    current_name: str = ""

    @classmethod
    def of(cls, entry: ExportSpec) -> Router:
        return cls(
            entry.cluster_interface or cls.cluster_interface,
            tuple(entry.from_interfaces or cls.from_interfaces),
            tuple(entry.ntp_servers or ()),
        )


def spec_command(spec: LoadedSpec) -> Callable[[GenOptions], str]:
    """The line that builds a role's Talos patch from the spec, for the targets' headers."""
    name = Path(spec.path).name
    return lambda opts: f"talospatch build {name} ({spec.spec.output}/{opts.role}.yaml)"


def cluster_request(spec: LoadedSpec) -> ClusterRequest:
    """The spec's cluster for the export targets; ``BadInput`` names the spec's file, line and key."""
    if sorted(spec.roles) != sorted(ROLES):
        raise BadInput(
            f"{spec.at(('roles',))}: export targets cover the roles {' and '.join(ROLES)}; "
            f"this spec builds {', '.join(spec.roles)}"
        )
    requests = {role: spec.request(role) for role in ROLES}
    roles = {role: RoleInput(r.options, r.catalog, r.labels) for role, r in requests.items()}
    values: dict[str, Any] = {}
    for name in ADDRESS_FIELDS:
        given = {role: getattr(r.options, name) for role, r in requests.items() if getattr(r.options, name)}
        distinct = set(given.values())
        if len(distinct) > 1:
            role = next(role for role in given if requests[role].labels(name) != KEYS[name])
            others = ", ".join(f"{other}: {', '.join(v)}" for other, v in given.items())
            raise BadInput(
                f"{spec.at(('roles', role, KEYS[name]))}: export targets give {KEYS[name]} one set of addresses "
                f"for the whole cluster, and the roles differ ({others}); set {KEYS[name]} at the top of the spec"
            )
        values[name] = next(iter(distinct)) if distinct else ()
    top = spec.spec
    options = GenOptions(
        cni=top.cni,
        tunnel=top.tunnel,
        nodeport=any(r.options.nodeport for r in requests.values()),
        converged=any(r.options.converged for r in requests.values()),
        addons=tuple(top.addons or ()),
        profiles_dir=str(spec.folder / top.profiles_dir) if top.profiles_dir is not None else None,
        talos_version=top.talos_version,
    )
    options = options._replace(**values)
    return ClusterRequest(options, Labels(dict(KEYS)), spec.catalog, roles, spec_command(spec))


def spec_cluster(request: ClusterRequest) -> Cluster:
    """Every role expanded, as ``build_cluster`` does for gen's options."""
    return build_cluster(
        request.options,
        request.catalog,
        labels=request.labels,
        command=request.command,
        per_role=request.roles,
    )


def render(request: ClusterRequest, target: str, router: Router | None = None) -> Export:
    """One target's files for the spec's cluster (``router`` for pfsense and opnsense)."""
    router = router or Router()
    if target == "pfsense":
        from talospatch.export import pfsense

        return pfsense.pfsense(
            request.options,
            cluster_interface=router.cluster_interface,
            from_interfaces=router.from_interfaces,
            ntp_servers=router.ntp_servers,
            catalog=request.catalog,
            labels=request.labels,
            per_role=request.roles,
        )
    if target == "opnsense":
        from talospatch.export import opnsense

        return opnsense.opnsense(
            request.options,
            cluster_interface=router.cluster_interface,
            from_interfaces=router.from_interfaces,
            ntp_servers=router.ntp_servers,
            current_rules=router.current_rules,
            current_name=router.current_name,
            catalog=request.catalog,
            labels=request.labels,
            per_role=request.roles,
        )
    if target not in TARGETS:
        raise BadInput(f"unknown export target {target!r}; valid: {', '.join(sorted(TARGETS))}")
    return TARGETS[target].render(spec_cluster(request))


@dataclass(frozen=True)
class SpecExport:
    """One entry of a spec's ``exports``: its folder and files."""

    index: int
    entry: ExportSpec
    folder: Path
    export: Export

    @property
    def key(self) -> str:
        return f"exports[{self.index}]"


def spec_exports(spec: LoadedSpec) -> list[SpecExport]:
    """Every export the spec lists, rendered; errors name the entry's line."""
    entries = spec.spec.exports or ()
    if not entries:
        return []
    request = cluster_request(spec)
    out = []
    for index, entry in enumerate(entries):
        router = Router.of(entry) if entry.target in ROUTED_TARGETS else None
        try:
            export = render(request, entry.target, router)
        except BadInput as exc:
            raise BadInput(f"{spec.at(('exports', index))} ({entry.target}): {exc}") from None
        out.append(SpecExport(index, entry, spec.folder / entry.output, export))
    return out
