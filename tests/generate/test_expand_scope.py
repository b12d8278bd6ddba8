"""gen's scope hazards: a node subnet that is everyone, pods among the nodes, control planes elsewhere."""

from __future__ import annotations

import pytest

from testing.runner import error_message, run

SUBNET = "192.168.30.0/24"


@pytest.mark.parametrize(
    ("subnet", "example"), [("0.0.0.0/0", "192.168.30.0/24"), ("::/0", "fd00:30::/64")], ids=["v4", "v6"]
)
def test_subnet_that_is_everyone_is_refused(capsys: pytest.CaptureFixture[str], subnet: str, example: str) -> None:
    result = run(capsys, "gen", "--role", "worker", "--subnet", subnet)
    message = error_message(result)
    assert message.startswith(f"--subnet {subnet} is every address: etcd, the kubelet and trustd")
    assert message.endswith(f"e.g. {example}")
    assert result.out == ""


def test_pod_subnet_overlapping_a_node_subnet_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "gen", "--role", "worker", "--subnet", "10.0.0.0/8", "--pod-subnet", "10.244.0.0/16")
    message = error_message(result)
    assert message.startswith("--pod-subnet 10.244.0.0/16 overlaps --subnet 10.0.0.0/8: pod and node addresses")
    assert result.out == ""


def test_pod_subnet_of_the_other_family_does_not_overlap(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--role", "worker", "--subnet", "10.0.0.0/8", "--subnet", "fd00::/64", "--pod-subnet", "fd01::/64"]
    result = run(capsys, "gen", *args, "--pod-subnet", "172.16.0.0/16")
    assert result.code == 0, result.err
    assert not any("overlaps" in w for w in result.warnings)


def test_default_pod_subnet_overlapping_a_node_subnet_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "gen", "--role", "worker", "--subnet", "10.0.0.0/8")
    assert result.code == 0, result.err
    assert (
        "the default pod subnet 10.244.0.0/16 overlaps --subnet 10.0.0.0/8; "
        "pass --pod-subnet with the cluster's podSubnets"
    ) in result.warnings
    assert "kind: NetworkRuleConfig" in result.out


def test_controlplane_outside_every_subnet_is_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--role", "controlplane", "--subnet", SUBNET, "--controlplane", "192.168.30.11"]
    result = run(capsys, "gen", *args, "--controlplane", "192.168.31.5", "--controlplane", "10.9.0.0/30")
    assert result.code == 0, result.err
    assert (
        f"--controlplane 10.9.0.0/30, 192.168.31.5/32 are outside every --subnet ({SUBNET}), so the rules for "
        "all nodes (kubelet, apid) do not admit them; add their subnet with --subnet, or correct the address"
    ) in result.warnings


def test_controlplane_inside_a_subnet_gives_no_scope_warning(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "gen", "--role", "controlplane", "--subnet", SUBNET, "--controlplane", "192.168.30.11")
    assert result.code == 0, result.err
    assert not any("outside every" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("role", "verb", "rules"),
    [("worker", "allows", "apid-ingress"), ("controlplane", "allow", "apid-ingress, kubernetes-api-ingress")],
)
def test_no_admin_warning_agrees_with_its_rules(
    capsys: pytest.CaptureFixture[str], role: str, verb: str, rules: str
) -> None:
    result = run(capsys, "gen", "--role", role, "--subnet", SUBNET)
    assert result.code == 0, result.err
    assert (
        f"no --admin: {rules} {verb} no one outside the cluster ({SUBNET}), "
        "so talosctl and kubectl work only from inside the node subnet"
    ) in result.warnings


def test_no_controlplane_warning_agrees_with_its_rules(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "gen", "--role", "controlplane", "--subnet", SUBNET, "--admin", "196.45.28.20")
    warning = next(w for w in result.warnings if w.startswith("no --controlplane"))
    assert warning.startswith(
        "no --controlplane: etcd-ingress, kube-controller-manager-ingress, kube-scheduler-ingress allow the whole"
    )
