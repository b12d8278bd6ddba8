"""Snapshots of every export target for the reference cluster, as plain files a reviewer
reads in a diff: subnet 192.168.30.0/24, control planes .11-.13, admin 196.45.28.20/32,
Cilium with Geneve. Update with ``pytest --snapshot-update`` and read the diff."""

from __future__ import annotations

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from talospatch.export import ClusterOptions, export
from testing.exportnft import build_cluster_cli


class TfSnapshot(SingleFileSnapshotExtension):
    file_extension = "tf"
    _write_mode = WriteMode.TEXT


class FwSnapshot(SingleFileSnapshotExtension):
    file_extension = "fw"
    _write_mode = WriteMode.TEXT


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
    extension = TfSnapshot if file.endswith(".tf") else FwSnapshot
    assert result.files[file] == snapshot.use_extension(extension)


def test_every_file_of_every_target_has_a_snapshot() -> None:
    from talospatch.export import TARGETS

    cluster = build_cluster_cli(REFERENCE)
    wanted = {(t, f) for t in TARGETS for f in export(t, cluster).files}
    assert wanted == {tuple(p.values) for p in FILES}
