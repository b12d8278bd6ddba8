"""nft, query, verify, audit and check take the node's context from its config; a flag wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.cluster import CONTROLPLANE_PATCH, ROOT
from testing.runner import Cli, Result, error_message, ok

LIVE = ROOT / "tests" / "fixtures" / "live"
CHECK = ROOT / "tests" / "fixtures" / "check"
PODS = "cluster:\n  network:\n    podSubnets: [10.200.0.0/16]\n"
V114 = """\
apiVersion: v1alpha1
kind: KubeNetworkConfig
podSubnets: [10.200.0.0/16]
serviceSubnets: [10.100.0.0/16]
---
apiVersion: v1alpha1
kind: ResolverConfig
hostDNS:
  forwardKubeDNSToHost: false
---
apiVersion: v1alpha1
kind: KubeProxyConfig
enabled: false
"""
NOTE = "talospatch: pod subnets 10.200.0.0/16 from cluster.network.podSubnets ({path})"
K8S_ACCEPT = "ip saddr {{ {nets} }} ip daddr {{ {nets} }} counter accept"


def _ok(result: Result) -> Result:
    assert result.code == 0, result.err
    return result


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_nft_takes_the_pod_subnet_from_the_config_and_says_so(cli: Cli, tmp_path: Path) -> None:
    path = _config(tmp_path, PODS)
    result = _ok(cli("nft", str(CONTROLPLANE_PATCH), str(path)))
    assert K8S_ACCEPT.format(nets="10.96.0.0/12, 10.200.0.0/16") in result.out
    assert "10.244.0.0/16" not in result.out.split("chain ingress")[1].split("ip saddr")[1]
    assert result.err_lines[0] == NOTE.format(path=path)


def test_nft_reads_the_v114_documents(cli: Cli, tmp_path: Path) -> None:
    path = _config(tmp_path, V114)
    result = _ok(cli("nft", str(CONTROLPLANE_PATCH), str(path)))
    assert K8S_ACCEPT.format(nets="10.100.0.0/16, 10.200.0.0/16") in result.out
    assert "169.254.116.108" not in result.out  # host DNS forwarding off: no DNS accept rules
    assert result.err_lines[:4] == [
        f"talospatch: pod subnets 10.200.0.0/16 from KubeNetworkConfig podSubnets ({path})",
        f"talospatch: service subnets 10.100.0.0/16 from KubeNetworkConfig serviceSubnets ({path})",
        f"talospatch: host DNS off from ResolverConfig hostDNS.forwardKubeDNSToHost ({path})",
        f"talospatch: kube-proxy off from KubeProxyConfig enabled ({path})",
    ]
    assert any("kube-proxy is off" in w and "bypasses the Talos firewall" in w for w in result.warnings)


def test_a_flag_wins_over_the_config_with_a_note(cli: Cli, tmp_path: Path) -> None:
    path = _config(tmp_path, PODS)
    result = _ok(cli("nft", str(CONTROLPLANE_PATCH), str(path), "--pod-subnet", "10.50.0.0/16"))
    assert K8S_ACCEPT.format(nets="10.50.0.0/16, 10.96.0.0/12") in result.out
    note = f"talospatch: --pod-subnet wins over pod subnets 10.200.0.0/16 from cluster.network.podSubnets ({path})"
    assert result.err_lines[0] == note


def test_query_says_where_the_context_came_from(cli: Cli, tmp_path: Path) -> None:
    path = _config(tmp_path, PODS)
    result = cli("query", str(CONTROLPLANE_PATCH), str(path), "--from", "10.200.1.5", "--port", "50000/tcp")
    assert result.code in (0, 1), result.err
    assert result.err_lines[0] == NOTE.format(path=path)


def test_verify_compares_with_the_configs_pod_subnet(cli: Cli, tmp_path: Path) -> None:
    path = _config(tmp_path, PODS)
    result = cli("verify", str(CONTROLPLANE_PATCH), str(path), "--live", str(LIVE / "cp1-chains.yaml"))
    assert result.code == 1  # the live node was built for 10.244.0.0/16
    assert any("10.200.0.0/16" in line and "lacks Talos's built-in rule" in line for line in result.out_lines)
    assert result.err_lines[0] == NOTE.format(path=path)


def test_audit_reports_where_the_context_came_from(cli: Cli, tmp_path: Path) -> None:
    path = _config(tmp_path, V114)
    result = cli("audit", str(CONTROLPLANE_PATCH), str(path), "--netstat", str(LIVE / "cp1-netstat.txt"))
    assert f"talospatch: kube-proxy off from KubeProxyConfig enabled ({path})" in result.err_lines
    assert "Traceback" not in result.err


@pytest.mark.parametrize("command", ["nft", "query", "verify", "audit", "check"])
def test_a_bad_cidr_in_the_config_is_one_line_and_exit_3(cli: Cli, tmp_path: Path, command: str) -> None:
    path = _config(tmp_path, "cluster:\n  network:\n    podSubnets: [10.200.0.1/16]\n")
    extra = {"query": ["--from", "10.0.0.1", "--port", "80"], "verify": ["--live", str(LIVE / "cp1-chains.yaml")]}
    extra["audit"] = ["--netstat", str(LIVE / "cp1-netstat.txt")]
    result = cli(
        command, str(CONTROLPLANE_PATCH) if command != "check" else str(path), str(path), *extra.get(command, [])
    )
    if command == "check":
        assert result.code == 3
        assert "has host bits set" in result.out
    else:
        assert "has host bits set" in error_message(result)
    assert "Traceback" not in result.err


def test_check_warns_of_the_bypass_and_the_converged_control_plane(cli: Cli) -> None:
    result = cli("check", str(CHECK / "nodeport-bypass.yaml"), str(CHECK / "converged-missing.yaml"))
    assert result.code == 1
    codes = [line for line in result.out_lines if "kube-proxy is off (KubeProxyConfig enabled" in line]
    assert len(codes) == 1
    assert any("schedules workloads (KubeNodeConfig taints (no node-role" in line for line in result.out_lines)


def test_check_is_quiet_on_a_tainted_control_plane(cli: Cli, tmp_path: Path) -> None:
    text = (
        (CHECK / "converged-missing.yaml")
        .read_text(encoding="utf-8")
        .replace(
            'labels:\n  node-role.kubernetes.io/control-plane: ""',
            'labels:\n  node-role.kubernetes.io/control-plane: ""\ntaints:\n  node-role.kubernetes.io/control-plane: NoSchedule',
        )
    )
    assert "taints:" in text
    path = _config(tmp_path, text)
    assert ok(cli("check", str(path))).out == ""


# -- verdicts the config decides, asked with query --to; flags the config cannot give

WHOLE = """\
version: v1alpha1
machine:
  type: controlplane
  features:
    hostDNS: {enabled: true, forwardKubeDNSToHost: true}
cluster:
  network:
    podSubnets: [10.200.0.0/16]
    serviceSubnets: [10.201.0.0/16]
"""
POD, POD_ON_NODE = "10.200.0.5", "10.200.0.1"


@pytest.mark.parametrize(
    ("extra", "answer"),
    [
        pytest.param([], "allowed: pod/service traffic", id="config"),
        pytest.param(["--pod-subnet", "10.244.0.0/16"], "dropped: no rule allows 8080/tcp", id="flag"),
    ],
)
def test_query_to_a_pod_address_follows_the_configs_pod_subnet(
    cli: Cli, tmp_path: Path, extra: list[str], answer: str
) -> None:
    path = _config(tmp_path, WHOLE)
    args = [str(CONTROLPLANE_PATCH), str(path), "--from", POD, "--to", POD_ON_NODE, "--port", "8080/tcp"]
    result = cli("query", *args, "--node-ip", "192.168.30.11", *extra)
    assert result.code == (0 if answer.startswith("allowed") else 1), result.err
    assert result.out.startswith(answer)


@pytest.mark.parametrize(
    ("text", "extra", "allowed"),
    [
        pytest.param(WHOLE, [], True, id="v1alpha1-forwards"),
        pytest.param(WHOLE, ["--no-host-dns"], False, id="flag-wins"),
        pytest.param(
            WHOLE.replace("  features:\n    hostDNS: {enabled: true, forwardKubeDNSToHost: true}\n", ""),
            [],
            False,
            id="whole-config-unset",
        ),
        pytest.param(
            V114.replace("forwardKubeDNSToHost: false", "enabled: true\n  forwardKubeDNSToHost: true"),
            [],
            True,
            id="v1.14",
        ),
    ],
)
def test_query_host_dns_follows_the_config(
    cli: Cli, tmp_path: Path, text: str, extra: list[str], allowed: bool
) -> None:
    path = _config(tmp_path, text)
    result = cli(
        "query",
        str(CONTROLPLANE_PATCH),
        str(path),
        "--from",
        POD,
        "--to",
        "169.254.116.108",
        "--port",
        "53/udp",
        *extra,
    )
    assert result.code == (0 if allowed else 1), result.err
    assert result.out.startswith("allowed: host DNS" if allowed else "dropped: ")


def test_no_kube_proxy_flag_warns_and_query_follows_no_dnat(cli: Cli) -> None:
    args = ["query", str(CONTROLPLANE_PATCH), "--from", "203.0.113.9", "--port", "30080/tcp", "--talos-version", "1.9"]
    with_proxy = cli(*args)
    assert with_proxy.code == 0, with_proxy.err  # before v1.10 kube-proxy DNATs NodePorts before any rule
    without = cli(*args, "--no-kube-proxy")
    assert without.code == 1
    assert any(w.startswith("kube-proxy is off (--no-kube-proxy)") for w in without.warnings)


def test_check_flags_win_over_the_config_with_a_note(cli: Cli, tmp_path: Path) -> None:
    text = (
        (CHECK / "converged-missing.yaml")
        .read_text(encoding="utf-8")
        .replace(
            'labels:\n  node-role.kubernetes.io/control-plane: ""',
            "taints:\n  node-role.kubernetes.io/control-plane: NoSchedule",
        )
    )
    path = _config(tmp_path, text)
    assert ok(cli("check", str(path))).out == ""  # tainted: no NodePorts needed
    converged = cli("check", str(path), "--converged")
    assert converged.code == 1
    assert "schedules workloads (--converged (command line))" in converged.out
    assert any(
        line.startswith("talospatch: --converged wins over workloads off from KubeNodeConfig taints")
        for line in converged.err_lines
    )
    bypass = cli("check", str(CONTROLPLANE_PATCH), "--no-kube-proxy")
    assert bypass.code == 1
    assert [line for line in bypass.out_lines if "nodeport" in line.lower()] != []
    assert "kube-proxy is off (--no-kube-proxy (command line))" in bypass.out
    pods = _config(tmp_path, PODS)
    merged = cli("check", "--merge", str(CONTROLPLANE_PATCH), str(pods), "--pod-subnet", "10.50.0.0/16")
    wins = f"talospatch: --pod-subnet wins over pod subnets 10.200.0.0/16 from cluster.network.podSubnets ({pods}: document 1)"
    assert wins in merged.err_lines


# -- a whole config that lists no subnets: the notes name Talos's behaviour, not the config

WITHOUT_NETWORK = "version: v1alpha1\nmachine:\n  type: controlplane\n"
V114_WITHOUT_NETWORK = WITHOUT_NETWORK + "---\n" + V114.split("---\n", 1)[1]
POD_SERVICE_ACCEPT = "counter accept"


@pytest.mark.parametrize(
    ("text", "version", "pods", "k8s"),
    [
        pytest.param(WITHOUT_NETWORK, [], "pod subnets none (the config sets neither", None, id="v1alpha1"),
        pytest.param(V114_WITHOUT_NETWORK, [], "pod subnets none (the config sets neither", None, id="v1.14-documents"),
        pytest.param(
            WITHOUT_NETWORK,
            ["--talos-version", "1.13"],
            "pod subnets 10.244.0.0/16 (Talos's default: the config sets no cluster.network;",
            "10.96.0.0/12, 10.244.0.0/16",
            id="v1alpha1-v1.13",
        ),
        pytest.param(
            WITHOUT_NETWORK + "cluster:\n  network:\n    cni: {name: none}\n",
            [],
            "pod subnets 10.244.0.0/16 (Talos's default: cluster.network sets no podSubnets;",
            "10.96.0.0/12, 10.244.0.0/16",
            id="network-without-subnets",
        ),
    ],
)
def test_nft_of_a_config_without_subnets_follows_talos(
    cli: Cli, tmp_path: Path, text: str, version: list[str], pods: str, k8s: str | None
) -> None:
    path = _config(tmp_path, text)
    result = _ok(cli("nft", str(CONTROLPLANE_PATCH), str(path), *version))
    (note,) = [line for line in result.err_lines if "pod subnets" in line]
    assert note.startswith(f"talospatch: {pods}")
    assert note.endswith(f"{path})")
    assert "from cluster.network" not in note
    if k8s is None:  # v1.14: no Kubernetes network, so no pod/service (or host DNS) accept rule
        assert "10.96.0.0/12" not in result.out
        assert "169.254.116.108" not in result.out
    else:
        assert K8S_ACCEPT.format(nets=k8s) in result.out
