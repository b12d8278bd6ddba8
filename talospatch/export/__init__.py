"""``talospatch export``: the same rules for the other firewalls in the cluster's path.

``build_cluster`` expands every role once; each target in ``TARGETS`` turns that cluster
into files (relative name -> text) and warnings. Nothing here prints or writes files.
"""

from __future__ import annotations

from talospatch.export.cluster import (
    EGRESS,
    ROLES,
    Cluster,
    ClusterOptions,
    ClusterRule,
    Egress,
    Export,
    RoleRules,
    Source,
    Target,
    build_cluster,
)

__all__ = [
    "EGRESS",
    "ROLES",
    "TARGETS",
    "Cluster",
    "ClusterOptions",
    "ClusterRule",
    "Egress",
    "Export",
    "RoleRules",
    "Source",
    "Target",
    "build_cluster",
    "export",
]


def _targets() -> dict[str, Target]:
    from talospatch.export import aws, proxmox

    return {t.name: t for t in (aws.TARGET, proxmox.TARGET, proxmox.TERRAFORM_TARGET)}


TARGETS: dict[str, Target] = _targets()


def export(target: str, cluster: Cluster) -> Export:
    """The files of one target; ``BadInput`` for an unknown target name."""
    from talospatch.errors import BadInput

    if target not in TARGETS:
        raise BadInput(f"unknown export target {target!r}; valid: {', '.join(sorted(TARGETS))}")
    return TARGETS[target].render(cluster)
