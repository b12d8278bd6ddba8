"""Export targets from a cluster spec: ``export TARGET --spec`` and the spec's ``exports:``.

Each role keeps the request ``build`` makes for it (``LoadedSpec.request``), so per-role
add-ons, CNI, NodePorts and extra rules are honoured exactly as ``build`` honours them in the
Talos patches; the cluster (``talospatch.export.cluster.cluster_of``) is those roles, each
expanded once. What no target can honour is a source group with different addresses per
role: every target names a group once for the whole cluster (an AWS security-group reference,
a Proxmox IP set, a pfSense alias), so a per-role address setting that differs from another
role's is an error naming the spec's line and key.

Pure: no printing, no files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from talospatch import registry
from talospatch.errors import BadInput
from talospatch.export import render
from talospatch.export.cluster import ROLES, Cluster, Export, cluster_of
from talospatch.generate.expand import GROUP_FIELDS, expand
from talospatch.generate.options import GenOptions, Labels
from talospatch.spec.load import LoadedSpec
from talospatch.spec.model import EXPORT_OPTIONS, KEYS, ExportSpec
from talospatch.spec.nodes import node_requests, own_patches
from talospatch.spec.roles import RoleRequest

# The options whose addresses a target names once for the whole cluster.
ADDRESS_FIELDS = ("subnets", *GROUP_FIELDS.values())


@dataclass(frozen=True)
class ClusterRequest:
    """A spec's cluster, checked and not yet expanded: each role's request, how to name options."""

    roles: dict[str, RoleRequest]
    labels: Labels
    command: Callable[[GenOptions], str]


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
    for name in ADDRESS_FIELDS:
        given = {role: getattr(r.options, name) for role, r in requests.items() if getattr(r.options, name)}
        if len(set(given.values())) > 1:
            role = next(role for role in given if requests[role].labels(name) != KEYS[name])
            others = ", ".join(f"{other}: {', '.join(v)}" for other, v in given.items())
            raise BadInput(
                f"{spec.at(('roles', role, KEYS[name]))}: export targets give {KEYS[name]} one set of addresses "
                f"for the whole cluster, and the roles differ ({others}); set {KEYS[name]} at the top of the spec"
            )
    return ClusterRequest(requests, Labels(dict(KEYS)), spec_command(spec))


def spec_cluster(request: ClusterRequest) -> Cluster:
    """Every role of the spec expanded once, as ``build`` expands it."""
    generated = {role: expand(r.options, r.catalog, r.labels) for role, r in request.roles.items()}
    return cluster_of(generated, labels=request.labels, command=request.command)


def export_options(entry: ExportSpec, spec: LoadedSpec | None = None) -> registry.ExportOptions:
    """An ``exports`` entry's options; a key left out keeps the option's default. A target that
    reads the built patches (``patches_dir``) gets the path from its folder to the spec's ``output``."""
    given = {name: getattr(entry, name) for name in EXPORT_OPTIONS if getattr(entry, name) is not None}
    if spec is not None and registry.takes(entry.target, "patches_dir"):
        relative = os.path.relpath(spec.output_dir.resolve(), (spec.folder / entry.output).resolve())
        given["patches_dir"] = PurePath(relative).as_posix()
    if spec is not None and registry.takes(entry.target, "node_patches"):
        given["node_patches"] = node_patches(spec)
    return registry.ExportOptions()._replace(**given)


def node_patches(spec: LoadedSpec) -> tuple[str, ...]:
    """The names of the nodes whose own patch ``build`` writes (``talospatch.spec.nodes.own_patches``)."""
    return tuple(item.node.name for item in own_patches(node_requests(spec)))


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
    """Every export the spec lists, rendered from one cluster; errors name the entry's line."""
    entries = spec.spec.exports or ()
    if not entries:
        return []
    request = cluster_request(spec)
    cluster: Cluster | None = None
    out = []
    for index, entry in enumerate(entries):
        try:
            cluster = cluster or spec_cluster(request)  # expanded in the first entry, whose line names its errors
            export = render(entry.target, cluster, export_options(entry, spec))
        except BadInput as exc:
            raise BadInput(f"{spec.at(('exports', index))} ({entry.target}): {exc}") from None
        out.append(SpecExport(index, entry, spec.folder / entry.output, export))
    return out
