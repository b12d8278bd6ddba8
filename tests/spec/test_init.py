"""``talospatch init``: gen's options as a spec; ``build`` of it gives gen's documents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from talospatch.yamlio import load_all
from testing.runner import error_message, ok, run

SUBNET = "192.168.30.0/24"
CUSTOM_ADDON = (
    "kind: addon\ndescription: Spegel\nrules:\n  - {name: spegel, service: Spegel, ports: [30020], "
    "protocol: tcp, from: [nodes, pods], why: peers pull layers, source: https://spegel.dev/docs/}\n"
)

NODE_CONFIG = (
    "version: v1alpha1\n---\napiVersion: v1alpha1\nkind: NetworkRuleConfig\nname: 00-break-glass\n"
    "portSelector: {ports: [50000], protocol: tcp}\ningress: [{subnet: 203.0.113.9/32}]\n"
)

OPTION_SETS = {
    "worker-flannel": ["--role", "worker", "--cni", "flannel", "--subnet", SUBNET, "--admin", "196.45.28.20/32"],
    "controlplane-dual": [
        "--role",
        "controlplane",
        "--cni",
        "cilium",
        "--tunnel",
        "geneve",
        "--subnet",
        SUBNET,
        "--subnet",
        "fd00:30::/64",
        "--controlplane",
        "192.168.30.11",
        "--controlplane",
        "fd00:30::11",
        "--admin",
        "196.45.28.20",
        "--workers",
        "192.168.30.64/26",
        "--pod-subnet",
        "10.244.0.0/16",
        "--pod-subnet",
        "fd00:244::/56",
        "--with",
        "etcd-metrics",
        "--with",
        "hubble",
    ],
    "worker-nodeport": [
        "--role",
        "worker",
        "--subnet",
        SUBNET,
        "--nodeport",
        "--nodeport-from",
        "203.0.113.0/24",
        "--with",
        "ingress-http",
    ],
    "worker-calico-from": [
        "--role",
        "worker",
        "--cni",
        "calico",
        "--subnet",
        SUBNET,
        "--admin",
        "196.45.28.20",
        "--from",
        "196.45.28.20",
    ],
    "controlplane-converged": [
        "--role",
        "controlplane",
        "--subnet",
        SUBNET,
        "--controlplane",
        "192.168.30.11",
        "--converged",
        "--nodeport-from",
        "203.0.113.0/24",
    ],
    "worker-bgp-load-balancers": [
        "--role",
        "worker",
        "--subnet",
        SUBNET,
        "--with",
        "bgp",
        "--bgp-peer",
        "192.168.30.1",
        "--with",
        "kube-proxy-health",
        "--load-balancer",
        "203.0.113.0/28",
    ],
    "worker-prune-from": ["--role", "worker", "--cni", "flannel", "--subnet", SUBNET, "--prune-from", "node.yaml"],
    "controlplane-profiles-dir": [
        "--role",
        "controlplane",
        "--subnet",
        SUBNET,
        "--controlplane",
        "192.168.30.11",
        "--profiles-dir",
        "custom",
        "--with",
        "spegel",
    ],
}


@pytest.mark.parametrize("args", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_build_of_init_gives_gens_documents(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "spegel.yaml").write_text(CUSTOM_ADDON, encoding="utf-8")
    (tmp_path / "node.yaml").write_text(NODE_CONFIG, encoding="utf-8")
    gen = ok(run(capsys, "gen", *args))
    ok(run(capsys, "init", *args, "-o", "talospatch.yaml"))
    built = ok(run(capsys, "build"))
    role = args[1]
    assert built.out == f"out/{role}.yaml: written\n"
    text = (tmp_path / "out" / f"{role}.yaml").read_text(encoding="utf-8")
    assert load_all(text, "built") == load_all(gen.out, "gen")
    assert text.splitlines()[1] == "#   talospatch build talospatch.yaml (Talos v1.14.0) (generation 1)"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{role}.yaml"]
    if "--prune-from" in args:
        assert "pruneFrom: node.yaml\n" in (tmp_path / "talospatch.yaml").read_text(encoding="utf-8")
        assert "name: 00-break-glass\n$patch: delete\n" in text


def test_init_prints_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(
        run(
            capsys,
            "init",
            "--role",
            "worker",
            "--subnet",
            SUBNET,
            "--admin",
            "196.45.28.20/32",
            "--from",
            "196.45.28.20",
        )
    )
    assert result.out.splitlines()[1:] == [
        "subnets:",
        "    - 192.168.30.0/24",
        "admins:",
        "    - 196.45.28.20/32",
        "from:",
        "    - 196.45.28.20",
        "roles:",
        "    worker: {}",
    ]


def test_init_without_role_builds_both_roles(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    common = ["--subnet", SUBNET, "--admin", "196.45.28.20/32", "--with", "hubble"]
    ok(
        run(
            capsys,
            "init",
            *common,
            "--controlplane",
            "192.168.30.11",
            "--with",
            "etcd-metrics",
            "-o",
            "talospatch.yaml",
        )
    )
    ok(run(capsys, "build"))
    controlplane = ok(
        run(
            capsys,
            "gen",
            "--role",
            "controlplane",
            *common,
            "--controlplane",
            "192.168.30.11",
            "--with",
            "etcd-metrics",
        )
    )
    worker = ok(run(capsys, "gen", "--role", "worker", *common))
    for role, gen in (("controlplane", controlplane), ("worker", worker)):
        text = (tmp_path / "out" / f"{role}.yaml").read_text(encoding="utf-8")
        assert load_all(text, role) == load_all(gen.out, "gen")


def test_init_output_is_relative_to_the_spec(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "spegel.yaml").write_text(CUSTOM_ADDON, encoding="utf-8")
    (tmp_path / "clusters").mkdir()
    args = ["--role", "worker", "--subnet", SUBNET, "--profiles-dir", "custom", "--with", "spegel"]
    ok(run(capsys, "init", *args, "-o", os.path.join("clusters", "talospatch.yaml")))
    assert "profilesDir: ../custom\n" in (tmp_path / "clusters" / "talospatch.yaml").read_text(encoding="utf-8")
    ok(run(capsys, "build", "clusters/talospatch.yaml"))
    assert "name: spegel\n" in (tmp_path / "clusters" / "out" / "worker.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--role", "worker"], "--subnet is required", id="no-subnet"),
        pytest.param(
            ["--role", "worker", "--subnet", SUBNET, "--with", "hubbel"], "unknown add-on 'hubbel'", id="addon"
        ),
        pytest.param(
            ["--subnet", SUBNET, "--with", "hubbel"],
            "talospatch.yaml:5: addons[0]: unknown add-on 'hubbel'",
            id="no-role",
        ),
        pytest.param(
            ["--role", "worker", "--subnet", SUBNET, "-o", "missing/spec.yaml"],
            "--output missing/spec.yaml: folder missing does not exist",
            id="folder",
        ),
    ],
)
def test_init_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)
    message = error_message(run(capsys, "init", *args))
    assert expected in message
    assert list(tmp_path.iterdir()) == []


def test_init_writes_atomically(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "talospatch.yaml").write_text("old\n", encoding="utf-8")
    error_message(run(capsys, "init", "--role", "worker", "--subnet", "10.0.0.1/8", "-o", "talospatch.yaml"))
    assert (tmp_path / "talospatch.yaml").read_text(encoding="utf-8") == "old\n"
    ok(run(capsys, "init", "--role", "worker", "--subnet", SUBNET, "-o", "talospatch.yaml"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talospatch.yaml"]
    assert "subnets:\n    - 192.168.30.0/24\n" in (tmp_path / "talospatch.yaml").read_text(encoding="utf-8")
