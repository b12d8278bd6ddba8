"""Every export target for the reference cluster, as plain files a reviewer reads in a diff:
subnet 192.168.30.0/24, control planes .11-.13, admin 196.45.28.20/32, Cilium with Geneve.

One golden copy per output: the targets the reference spec exports (aws-terraform and
proxmox, into out/aws and out/proxmox, drift-checked by ``build --check``) are compared with
out/; the others are snapshots (``pytest --snapshot-update``, then read the diff)."""

from __future__ import annotations

import pytest

from talospatch.export import render
from testing.cluster import OUT
from testing.exportnft import REFERENCE, build_cluster_cli
from testing.snapshots import text_snapshot

# The files out/ holds for the reference spec's exports.
IN_OUT = [
    pytest.param("aws-terraform", "aws/talos-security-groups.tf", id="aws-terraform"),
    pytest.param("proxmox", "proxmox/cluster.fw", id="proxmox-cluster"),
    pytest.param("proxmox", "proxmox/controlplane.fw", id="proxmox-controlplane"),
    pytest.param("proxmox", "proxmox/worker.fw", id="proxmox-worker"),
]
FILES = [
    pytest.param("proxmox-terraform", "talos-proxmox-firewall.tf", id="proxmox-terraform"),
    pytest.param("talos-terraform", "talospatch-patches.tf", id="talos-terraform"),
    pytest.param("omni", "talospatch-omni.yaml", id="omni-template"),
    pytest.param("omni", "talospatch-controlplane.yaml", id="omni-controlplane"),
    pytest.param("omni", "talospatch-worker.yaml", id="omni-worker"),
]


def _without_regenerate_lines(text: str) -> list[str]:
    """The file without its "regenerate with" lines: gen command lines here, the spec's build in out/."""
    return [line for line in text.splitlines() if not line.startswith("#   talospatch ")]


@pytest.mark.parametrize(("target", "file"), IN_OUT)
def test_reference_cluster_equals_out(target: str, file: str) -> None:
    result = render(target, build_cluster_cli(REFERENCE))
    assert result.warnings == ()
    golden = (OUT / file).read_text(encoding="utf-8")
    assert _without_regenerate_lines(result.files[file.split("/")[1]]) == _without_regenerate_lines(golden)


@pytest.mark.parametrize(("target", "file"), FILES)
def test_reference_cluster(snapshot, target: str, file: str) -> None:  # type: ignore[no-untyped-def]
    result = render(target, build_cluster_cli(REFERENCE))
    assert result.warnings == ()
    assert result.files[file] == snapshot.use_extension(text_snapshot(file.rsplit(".", 1)[1]))


def test_every_file_of_every_target_has_a_snapshot() -> None:
    from talospatch.registry import NAMES

    cluster = build_cluster_cli(REFERENCE)
    # pfsense and opnsense have snapshots of their own (test_pfsense.py, test_opnsense.py).
    per_nic = [t for t in NAMES if t not in ("pfsense", "opnsense")]
    wanted = {(t, f) for t in per_nic for f in render(t, cluster).files}
    golden = {(p.values[0], str(p.values[1]).split("/")[1]) for p in IN_OUT}
    assert wanted == golden | {tuple(p.values) for p in FILES}
