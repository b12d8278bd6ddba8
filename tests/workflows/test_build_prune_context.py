"""``build`` with ``pruneFrom`` takes the node's context from that config; the spec's ``podSubnets`` wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.cluster import REFERENCE_SPEC
from testing.runner import WARNING, Result, run

CONFIG = """\
apiVersion: v1alpha1
kind: KubeNetworkConfig
podSubnets: [10.201.0.0/16]
---
apiVersion: v1alpha1
kind: KubeProxyConfig
enabled: false
"""


def _build(capsys: pytest.CaptureFixture[str], tmp_path: Path, extra: str = "") -> Result:
    (tmp_path / "node.yaml").write_text(CONFIG, encoding="utf-8")
    spec = tmp_path / "talospatch.yaml"
    spec.write_text(REFERENCE_SPEC + "pruneFrom: node.yaml\n" + extra, encoding="utf-8")
    result = run(capsys, "build", str(spec))
    assert result.code == 0, result.err
    return result


def test_build_takes_the_pods_source_from_prune_from(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = _build(capsys, tmp_path)
    spec = tmp_path / "talospatch.yaml"
    for role in ("controlplane", "worker"):
        text = (tmp_path / "out" / f"{role}.yaml").read_text(encoding="utf-8")
        assert "pods 10.201.0.0/16" in text
        assert "10.244.0.0/16" not in text
        assert (
            f"talospatch: {spec}: role {role}: pod subnets 10.201.0.0/16 from KubeNetworkConfig podSubnets (node.yaml)"
            in (result.err_lines)
        )
    kube_proxy = [line for line in result.err_lines if line.startswith(WARNING) and "kube-proxy is off" in line]
    assert len(kube_proxy) == 2  # once per role


def test_the_specs_pod_subnets_win_with_a_note(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = _build(capsys, tmp_path, "podSubnets: [10.50.0.0/16]\n")
    spec = tmp_path / "talospatch.yaml"
    assert "pods 10.50.0.0/16" in (tmp_path / "out" / "worker.yaml").read_text(encoding="utf-8")
    note = (
        f"talospatch: {spec}: role worker: podSubnets wins over pod subnets 10.201.0.0/16 "
        "from KubeNetworkConfig podSubnets (node.yaml)"
    )
    assert note in result.err_lines
