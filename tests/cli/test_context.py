"""The node's context from its machine config, per command: nft, query, verify, audit, check and
gen --prune-from read it in both forms, say where each value came from, and let a flag win."""

from __future__ import annotations

import io
import json
import sys
import textwrap
from pathlib import Path

import pytest

from testing.cluster import ROOT
from testing.runner import Cli, error_message, ok

FIXTURES = ROOT / "tests" / "fixtures" / "context"
V1ALPHA1 = str(FIXTURES / "controlplane-v1alpha1.yaml")
V114 = str(FIXTURES / "controlplane-v1.14.yaml")
NETSTAT = str(ROOT / "tests" / "fixtures" / "live" / "cp1-netstat.txt")
NODE = "192.168.30.11"
POD = "10.200.0.5"  # a pod of the configs' pod subnet 10.200.0.0/16
CILIUM_HOST = "10.200.0.1"  # the node's own address in the pod subnet (cilium_host)
BAD_CIDR = "version: v1alpha1\nmachine: {type: worker}\ncluster: {network: {podSubnets: [10.200.0.0/33]}}\n"


def where(path: str, document: int = 1) -> str:
    return f"{path}: document {document}"


# -- nft: the compiled ruleset


@pytest.mark.parametrize(
    ("config", "pods", "dns6"),
    [
        pytest.param(V1ALPHA1, "ip saddr 10.200.0.0/15 ip daddr 10.200.0.0/15 counter accept", False, id="v1alpha1"),
        pytest.param(V114, "ip6 saddr { fd00:200::/56, fd00:201::/112 } ip6 daddr {", True, id="v1.14"),
    ],
)
def test_nft_compiles_the_configs_context(cli: Cli, config: str, pods: str, dns6: bool) -> None:
    result = ok(cli("nft", config, "--node-ip", NODE))
    assert pods in result.out
    assert "10.244.0.0/16" not in result.out  # not Talos's default pod subnet
    assert ("fd54:616c:6f73:0:204f:5320:444e:531" in result.out) is dns6  # the IPv6 host DNS rule: IPv6 pods
    assert "ip daddr 169.254.116.108 udp dport 53" in result.out  # forwardKubeDNSToHost: true
    key = "cluster.network.podSubnets" if config == V1ALPHA1 else "KubeNetworkConfig.podSubnets"
    document = 1 if config == V1ALPHA1 else 2
    assert any(
        n.startswith("pod subnets 10.200.0.0/16") and f"from {key} ({where(config, document)})" in n
        for n in result.notes
    )
    assert any(w.startswith("kube-proxy is off (") for w in result.warnings)


def test_nft_flags_win_with_a_note(cli: Cli) -> None:
    result = ok(cli("nft", V1ALPHA1, "--pod-subnet", "10.244.0.0/16", "--no-host-dns"))
    assert "169.254.116.108" not in result.out
    assert "10.244.0.0/16" in result.out
    assert f"--pod-subnet 10.244.0.0/16 wins over cluster.network.podSubnets 10.200.0.0/16 ({where(V1ALPHA1)})" in (
        result.notes
    )
    assert any(
        n.startswith("--no-host-dns wins over machine.features.hostDNS.forwardKubeDNSToHost") for n in result.notes
    )


def test_nft_reads_a_config_on_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(Path(V114).read_text(encoding="utf-8")))
    result = ok(cli("nft", "-"))
    assert "fd00:200::/56" in result.out
    assert any("(stdin: document 2)" in n for n in result.notes)


def test_a_patch_says_nothing_and_defaults_hold(cli: Cli) -> None:
    result = ok(cli("nft", str(ROOT / "out" / "worker.yaml")))
    assert result.err == ""
    assert "10.244.0.0/16" in result.out


# -- query: verdicts the context decides


@pytest.mark.parametrize(
    ("extra", "allowed"),
    [pytest.param([], True, id="config-pods"), pytest.param(["--pod-subnet", "10.244.0.0/16"], False, id="flag")],
)
def test_query_pod_to_pod_address_follows_the_pod_subnet(cli: Cli, extra: list[str], allowed: bool) -> None:
    args = ["query", V1ALPHA1, "--from", POD, "--to", CILIUM_HOST, "--port", "8080/tcp", "--node-ip", NODE, *extra]
    result = cli(*args)
    assert result.code == (0 if allowed else 1), result.err
    assert result.out == (
        "allowed: pod/service traffic\n" if allowed else "dropped: no rule allows 8080/tcp (default action block)\n"
    )


@pytest.mark.parametrize(
    ("config", "extra", "allowed"),
    [
        pytest.param(V1ALPHA1, [], True, id="v1alpha1"),
        pytest.param(V114, [], True, id="v1.14"),
        pytest.param(V114, ["--no-host-dns"], False, id="flag"),
    ],
)
def test_query_host_dns_follows_the_config(cli: Cli, config: str, extra: list[str], allowed: bool) -> None:
    result = cli("query", config, "--from", POD, "--to", "169.254.116.108", "--port", "53/udp", *extra)
    assert result.code == (0 if allowed else 1), result.err
    assert result.out.startswith("allowed: host DNS" if allowed else "dropped: ")


def test_query_host_dns_off_in_a_whole_config_that_does_not_set_it(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "cp.yaml"
    text = Path(V1ALPHA1).read_text(encoding="utf-8").replace("            forwardKubeDNSToHost: true\n", "")
    config.write_text(text, encoding="utf-8")
    assert "forwardKubeDNSToHost" not in text
    result = cli("query", str(config), "--from", POD, "--to", "169.254.116.108", "--port", "53/udp")
    assert result.code == 1, result.err
    assert (
        f"host DNS forwarding off: machine.features.hostDNS.forwardKubeDNSToHost is not set in {where(str(config))} "
        "(Talos's default)"
    ) in result.notes


# -- verify and audit


def test_verify_compares_with_the_configs_context(cli: Cli, tmp_path: Path) -> None:
    live = tmp_path / "chains.yaml"
    live.write_text(ok(cli("nft", V1ALPHA1, "--node-ip", NODE, "--format", "resource")).out, encoding="utf-8")
    same = cli("verify", V1ALPHA1, "--live", str(live))
    assert same.code == 0, same.out + same.err
    assert any(n.startswith("pod subnets 10.200.0.0/16 from cluster.network.podSubnets") for n in same.notes)
    differs = cli("verify", V1ALPHA1, "--live", str(live), "--pod-subnet", "10.244.0.0/16")
    assert differs.code == 1
    assert "node allows traffic from 10.200.0.0/15 to 10.200.0.0/15, which no rule here generates" in differs.out


def test_audit_shows_who_reaches_host_dns_from_the_config(cli: Cli) -> None:
    result = ok(cli("audit", V1ALPHA1, "--netstat", NETSTAT))
    dns = [line for line in result.out_lines if line.startswith("udp 169.254.116.108:53")]
    assert len(dns) == 1
    assert "host dns: 10.200.0.0/15" in dns[0]
    off = ok(cli("audit", V1ALPHA1, "--netstat", NETSTAT, "--no-host-dns"))
    assert "host dns:" not in off.out


# -- check: the context decides findings


def test_check_finds_nodeports_missing_on_a_control_plane_that_runs_workloads(cli: Cli) -> None:
    for config, key in ((V1ALPHA1, "cluster.allowSchedulingOnControlPlanes"), (V114, "KubeNodeConfig.taints")):
        result = cli("check", config)
        assert result.code == 1, result.err
        missing = [line for line in result.out_lines if "nodeport-ingress" in line and "needs 30000-32767" in line]
        assert len(missing) == 1, result.out
        assert f"(this control plane runs workloads: {key}" in missing[0]
        assert any("kube-proxy is off (" in line for line in result.out_lines)


def test_check_a_tainted_control_plane_needs_no_nodeports(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "cp.yaml"
    text = (
        Path(V114)
        .read_text(encoding="utf-8")
        .replace(
            'labels:\n    node-role.kubernetes.io/control-plane: ""\n',
            "taints:\n    node-role.kubernetes.io/control-plane: NoSchedule\n",
        )
    )
    config.write_text(text.replace("enabled: false\n", "enabled: true\n", 1), encoding="utf-8")
    result = ok(cli("check", str(config)))
    assert result.out == ""
    assert any(n.startswith("workloads on the control plane: no from KubeNodeConfig.taints with") for n in result.notes)
    # --converged says otherwise, and wins.
    converged = cli("check", str(config), "--converged")
    assert converged.code == 1
    assert "(this control plane runs workloads: --converged)" in converged.out
    assert any(n.startswith("--converged wins over KubeNodeConfig.taints") for n in converged.notes)


def test_check_no_kube_proxy_flag_on_a_patch(cli: Cli, tmp_path: Path) -> None:
    patch = tmp_path / "worker.yaml"
    patch.write_text(
        "apiVersion: v1alpha1\nkind: NetworkDefaultActionConfig\ningress: block\n---\n"
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: apid-ingress\n"
        "portSelector: {ports: [50000], protocol: tcp}\ningress: [{subnet: 192.168.30.0/24}]\n---\n"
        "apiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: nodeport-ingress\n"
        "portSelector: {ports: [30000-32767], protocol: tcp}\ningress: [{subnet: 192.168.30.0/24}]\n",
        encoding="utf-8",
    )
    assert ok(cli("check", str(patch))).out == ""
    result = cli("check", str(patch), "--no-kube-proxy", "--format", "json")
    assert result.code == 1
    findings = json.loads(result.out)["findings"]
    assert [f["code"] for f in findings] == ["nodeport-bypass"]
    assert "kube-proxy is off (--no-kube-proxy)" in findings[0]["message"]
    assert "nodeport-ingress does not filter them" in findings[0]["message"]
    ignored = ok(cli("check", str(patch), "--no-kube-proxy", "--ignore", "nodeport-bypass"))
    assert ignored.out == ""


def test_check_merged_reads_the_context_across_files(cli: Cli, tmp_path: Path) -> None:
    override = tmp_path / "pods.yaml"
    override.write_text("cluster:\n    network:\n        podSubnets: [10.210.0.0/16]\n", encoding="utf-8")
    result = cli("check", "--merge", V1ALPHA1, str(override))
    assert f"pod subnets 10.210.0.0/16 from cluster.network.podSubnets ({where(str(override))})" in result.notes


# -- gen --prune-from: the node's pod subnets become the pods source


def test_gen_prune_from_takes_the_pod_subnets_of_the_node(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "worker.yaml"
    result = ok(cli("gen", "--role", "worker", "--subnet", "192.168.30.0/24", "--prune-from", V114, "-o", str(out)))
    text = out.read_text(encoding="utf-8")
    assert "--pod-subnet 10.200.0.0/16 --pod-subnet fd00:200::/56" in text.splitlines()[1]
    assert "    - subnet: 10.200.0.0/16\n" in text
    assert "10.244.0.0/16" not in text
    assert any(
        n.startswith("pod subnets 10.200.0.0/16, fd00:200::/56 from KubeNetworkConfig.podSubnets") for n in result.notes
    )
    assert any(w.startswith("kube-proxy is off (KubeProxyConfig.enabled in ") for w in result.warnings)
    flag = ok(
        cli(
            "gen",
            "--role",
            "worker",
            "--subnet",
            "192.168.30.0/24",
            "--pod-subnet",
            "10.244.0.0/16",
            "--prune-from",
            V114,
        )
    )
    assert "    - subnet: 10.244.0.0/16\n" in flag.out
    assert any(n.startswith("--pod-subnet 10.244.0.0/16 wins over KubeNetworkConfig.podSubnets") for n in flag.notes)


def test_gen_prune_from_warns_a_control_plane_that_runs_workloads(cli: Cli) -> None:
    result = ok(cli("gen", "--role", "controlplane", "--subnet", "192.168.30.0/24", "--prune-from", V1ALPHA1))
    assert any(
        w.startswith("this control plane runs workloads (cluster.allowSchedulingOnControlPlanes")
        for w in result.warnings
    )
    converged = ok(
        cli("gen", "--role", "controlplane", "--converged", "--subnet", "192.168.30.0/24", "--prune-from", V1ALPHA1)
    )
    assert not any(w.startswith("this control plane runs workloads") for w in converged.warnings)
    assert "name: nodeport-ingress" in converged.out


def test_spec_prune_from_notes_name_the_spec_and_role(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "node.yaml").write_text(Path(V1ALPHA1).read_text(encoding="utf-8"), encoding="utf-8")
    spec = tmp_path / "talospatch.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            cni: cilium
            subnets: [192.168.30.0/24]
            output: out
            roles:
              worker:
                pruneFrom: node.yaml
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    result = ok(cli("build", str(spec)))
    assert any(n.startswith(f"{spec}: role worker: pod subnets 10.200.0.0/16") for n in result.notes), result.err
    assert "    - subnet: 10.200.0.0/16\n" in (tmp_path / "out" / "worker.yaml").read_text(encoding="utf-8")


# -- bad input in the config: one line, exit 3, nothing written


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["nft", "{config}"], id="nft"),
        pytest.param(["query", "{config}", "--from", POD, "--port", "53/udp"], id="query"),
        pytest.param(
            ["verify", "{config}", "--live", str(ROOT / "tests" / "fixtures" / "live" / "cp1-chains.yaml")], id="verify"
        ),
        pytest.param(["audit", "{config}", "--netstat", NETSTAT], id="audit"),
        pytest.param(["check", "{config}"], id="check"),
        pytest.param(
            ["gen", "--role", "worker", "--subnet", "192.168.30.0/24", "--prune-from", "{config}", "-o", "{out}"],
            id="gen",
        ),
    ],
)
def test_a_bad_cidr_in_the_config_is_one_line_and_exit_3(cli: Cli, tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(BAD_CIDR, encoding="utf-8")
    out = tmp_path / "patch.yaml"
    args = [word.format(config=config, out=out) for word in command]
    message = error_message(cli(*args))
    assert (
        message
        == f"{config}: document 1: cluster.network.podSubnets[0]: '10.200.0.0/33' is not a CIDR (want e.g. 10.244.0.0/16)"
    )
    assert not out.exists()


def test_a_document_beside_its_v1alpha1_counterpart_is_refused(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(
        Path(V1ALPHA1).read_text(encoding="utf-8")
        + "---\napiVersion: v1alpha1\nkind: KubeProxyConfig\nenabled: false\n",
        encoding="utf-8",
    )
    message = error_message(cli("nft", str(config)))
    assert message.startswith(
        f"{config}: document 5: KubeProxyConfig and cluster.proxy ({config}: document 1) are both set"
    )
