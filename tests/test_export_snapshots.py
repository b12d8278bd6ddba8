"""Snapshots of every export target for the reference cluster, as plain files a reviewer
reads in a diff: subnet 192.168.30.0/24, control planes .11-.13, admin 196.45.28.20/32,
Cilium with Geneve. Update with ``pytest --snapshot-update`` and read the diff."""

from __future__ import annotations

import pytest

from talospatch.export import ClusterOptions, export
from testing.exportnft import build_cluster_cli
from testing.snapshots import text_snapshot

REFERENCE = ClusterOptions(
    subnets=("192.168.30.0/24",),
    cni="cilium",
    tunnel="geneve",
    controlplane=("192.168.30.11", "192.168.30.12", "192.168.30.13"),
    admins=("196.45.28.20/32",),
)

FILES = [
    pytest.param("aws-terraform", "talos-security-groups.tf", id="aws-terraform"),
    pytest.param("proxmox", "cluster.fw", id="proxmox-cluster"),
    pytest.param("proxmox", "controlplane.fw", id="proxmox-controlplane"),
    pytest.param("proxmox", "worker.fw", id="proxmox-worker"),
    pytest.param("proxmox-terraform", "talos-proxmox-firewall.tf", id="proxmox-terraform"),
]


@pytest.mark.parametrize(("target", "file"), FILES)
def test_reference_cluster(snapshot, target: str, file: str) -> None:  # type: ignore[no-untyped-def]
    result = export(target, build_cluster_cli(REFERENCE))
    assert result.warnings == ()
    extension = text_snapshot("tf") if file.endswith(".tf") else text_snapshot("fw")
    assert result.files[file] == snapshot.use_extension(extension)


def test_every_file_of_every_target_has_a_snapshot() -> None:
    from talospatch.export import TARGETS

    cluster = build_cluster_cli(REFERENCE)
    # pfsense and opnsense have snapshots of their own (test_export_pfsense/opnsense.py).
    per_nic = [t for t in TARGETS if t not in ("pfsense", "opnsense")]
    wanted = {(t, f) for t in per_nic for f in export(t, cluster).files}
    assert wanted == {tuple(p.values) for p in FILES}
