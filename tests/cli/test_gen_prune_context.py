"""gen --prune-from takes the node's context from the config it prunes against; a flag wins."""

from __future__ import annotations

from pathlib import Path

from testing.runner import Cli, Result, error_message

V1ALPHA1 = "machine:\n  type: worker\ncluster:\n  network:\n    podSubnets: [10.200.0.0/16]\n"
V114 = """\
apiVersion: v1alpha1
kind: KubeNetworkConfig
podSubnets: [10.201.0.0/16]
serviceSubnets: [10.100.0.0/16]
---
apiVersion: v1alpha1
kind: KubeProxyConfig
enabled: false
"""
WORKER = ["--role", "worker", "--subnet", "192.168.30.0/24"]


def _gen(cli: Cli, tmp_path: Path, config: str, *args: str) -> tuple[Result, Path]:
    path = tmp_path / "node.yaml"
    path.write_text(config, encoding="utf-8")
    result = cli("gen", *WORKER, "--prune-from", str(path), *args)
    assert result.code == 0, result.err
    return result, path


def test_the_v1alpha1_pod_subnets_are_the_pods_source(cli: Cli, tmp_path: Path) -> None:
    result, path = _gen(cli, tmp_path, V1ALPHA1)
    assert "pods 10.200.0.0/16" in result.out
    assert "10.244.0.0/16" not in result.out
    assert "--pod-subnet" not in result.out  # the header repeats what was asked
    assert result.err_lines[0] == f"talospatch: pod subnets 10.200.0.0/16 from cluster.network.podSubnets ({path})"


def test_the_v114_kube_network_config_is_read_and_kube_proxy_off_warns(cli: Cli, tmp_path: Path) -> None:
    result, path = _gen(cli, tmp_path, V114)
    assert "pods 10.201.0.0/16" in result.out
    assert "10.244.0.0/16" not in result.out
    assert result.err_lines[:3] == [
        f"talospatch: pod subnets 10.201.0.0/16 from KubeNetworkConfig podSubnets ({path})",
        f"talospatch: service subnets 10.100.0.0/16 from KubeNetworkConfig serviceSubnets ({path})",
        f"talospatch: kube-proxy off from KubeProxyConfig enabled ({path})",
    ]
    assert any("kube-proxy is off" in w and "bypasses the Talos firewall" in w for w in result.warnings)


def test_the_pod_subnet_flag_wins_with_a_note(cli: Cli, tmp_path: Path) -> None:
    result, path = _gen(cli, tmp_path, V1ALPHA1, "--pod-subnet", "10.50.0.0/16")
    assert "pods 10.50.0.0/16" in result.out
    assert "10.200.0.0/16" not in result.out
    note = f"talospatch: --pod-subnet wins over pod subnets 10.200.0.0/16 from cluster.network.podSubnets ({path})"
    assert result.err_lines[0] == note


def test_without_prune_from_the_default_pod_subnet_stays(cli: Cli) -> None:
    result = cli("gen", *WORKER)
    assert result.code == 0, result.err
    assert "pods 10.244.0.0/16" in result.out
    assert not any(line.startswith("talospatch: pod subnets") for line in result.err_lines)


def test_a_bad_cidr_in_the_config_is_one_line_exit_3(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text("cluster:\n  network:\n    podSubnets: [10.300.0.0/16]\n", encoding="utf-8")
    target = tmp_path / "out.yaml"
    message = error_message(cli("gen", *WORKER, "--prune-from", str(path), "-o", str(target)))
    assert "cluster.network.podSubnets" in message
    assert "10.300.0.0/16" in message
    assert not target.exists()
