"""``talospatch gen``: bad input, output files, determinism, the header, warnings."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from testing.cluster import CONTROLPLANE, SUBNET, WORKER
from testing.documents import load_docs, names_of_kind
from testing.runner import ERROR, WARNING, Cli, error_message, ok


def _valid(kind: str) -> str:
    return ", ".join(names_of_kind(kind))


# (id, args after the command, fragments the one error line must contain)
BAD_INPUT = [
    ("subnet-malformed", [*WORKER[:2], "--subnet", "foo"], ["--subnet", "'foo'", "192.168.30.0/24"]),
    ("subnet-empty", [*WORKER[:2], "--subnet", ""], ["--subnet", "''"]),
    (
        "subnet-bad-address",
        [*WORKER[:2], "--subnet", "192.168.300.0/24"],
        ["--subnet", "'192.168.300.0/24'", "not an IP address"],
    ),
    (
        "subnet-prefix-33",
        [*WORKER[:2], "--subnet", "192.168.30.0/33"],
        ["--subnet", "'192.168.30.0/33'", "prefix length must be 0-32"],
    ),
    (
        "subnet-prefix-empty",
        [*WORKER[:2], "--subnet", "192.168.30.0/"],
        ["--subnet", "'192.168.30.0/'", "prefix length must be 0-32"],
    ),
    (
        "subnet-prefix-negative",
        [*WORKER[:2], "--subnet", "192.168.30.0/-1"],
        ["--subnet", "'192.168.30.0/-1'", "prefix length must be 0-32"],
    ),
    (
        "subnet-prefix-superscript-digit",
        [*WORKER[:2], "--subnet", "192.168.30.0/\u00b2"],
        ["--subnet", "'192.168.30.0/\u00b2'", "prefix length must be 0-32"],
    ),
    (
        "subnet-ipv6-prefix-129",
        [*WORKER[:2], "--subnet", "fd00::/129"],
        ["--subnet", "'fd00::/129'", "prefix length must be 0-128"],
    ),
    (
        "subnet-host-bits",
        [*WORKER[:2], "--subnet", "192.168.30.5/24"],
        ["--subnet", "'192.168.30.5/24'", "host bits", "did you mean 192.168.30.0/24"],
    ),
    (
        "subnet-ipv6-host-bits",
        [*WORKER[:2], "--subnet", "fd00::1/64"],
        ["--subnet", "'fd00::1/64'", "did you mean fd00::/64"],
    ),
    (
        "subnet-bare-ip",
        [*WORKER[:2], "--subnet", "192.168.30.5"],
        ["--subnet", "'192.168.30.5'", "CIDR", "192.168.30.0/24"],
    ),
    ("subnet-bare-ipv6", [*WORKER[:2], "--subnet", "fd00::1"], ["--subnet", "'fd00::1'", "CIDR", "fd00::/64"]),
    ("subnet-missing", ["--role", "worker"], ["--subnet is required", "192.168.30.0/24"]),
    ("admin-malformed", [*WORKER, "--admin", "bad"], ["--admin", "'bad'", "192.168.30.0/24"]),
    (
        "admin-prefix-33",
        [*WORKER, "--admin", "10.0.0.1/33"],
        ["--admin", "'10.0.0.1/33'", "prefix length must be 0-32"],
    ),
    ("admin-host-bits", [*WORKER, "--admin", "10.0.0.5/24"], ["--admin", "'10.0.0.5/24'", "did you mean 10.0.0.0/24"]),
    ("controlplane-malformed", [*CONTROLPLANE, "--controlplane", "10.0.0.300"], ["--controlplane", "'10.0.0.300'"]),
    (
        "controlplane-ipv6-prefix-129",
        [*CONTROLPLANE, "--controlplane", "fd00::1/129"],
        ["--controlplane", "'fd00::1/129'", "prefix length must be 0-128"],
    ),
    ("workers-malformed", [*CONTROLPLANE, "--workers", "workers"], ["--workers", "'workers'"]),
    (
        "pod-subnet-malformed",
        [*WORKER, "--pod-subnet", "10.244.0.0/x"],
        ["--pod-subnet", "'10.244.0.0/x'", "prefix length must be 0-32"],
    ),
    ("pod-subnet-bare-ip", [*WORKER, "--pod-subnet", "10.244.0.0"], ["--pod-subnet", "'10.244.0.0'", "CIDR"]),
    (
        "pod-subnet-host-bits",
        [*WORKER, "--pod-subnet", "10.244.0.1/16"],
        ["--pod-subnet", "did you mean 10.244.0.0/16"],
    ),
    ("nodeport-from-malformed", [*WORKER, "--nodeport", "--nodeport-from", "1.2.3"], ["--nodeport-from", "'1.2.3'"]),
    (
        "role-unknown",
        ["--role", "master", "--subnet", SUBNET],
        ["unknown role", "'master'", "valid: " + _valid("role")],
    ),
    (
        "role-is-a-cni",
        ["--role", "cilium", "--subnet", SUBNET],
        ["unknown role", "'cilium'", "valid: " + _valid("role")],
    ),
    ("cni-unknown", [*WORKER, "--cni", "weave"], ["unknown CNI", "'weave'", "valid: " + _valid("cni")]),
    ("addon-unknown", [*WORKER, "--with", "nope"], ["unknown add-on", "'nope'", "valid: " + _valid("addon")]),
    (
        "addon-is-a-role",
        [*WORKER, "--with", "controlplane"],
        ["unknown add-on", "'controlplane'", "valid: " + _valid("addon")],
    ),
    ("tunnel-unknown", [*WORKER, "--tunnel", "gre"], ["unknown tunnel", "'gre'", "cilium", "vxlan, geneve, both"]),
    ("tunnel-with-flannel", [*WORKER, "--cni", "flannel", "--tunnel", "vxlan"], ["--tunnel", "flannel"]),
    ("tunnel-with-cni-none", [*WORKER, "--cni", "none", "--tunnel", "both"], ["--tunnel", "none"]),
    (
        "controlplane-on-worker",
        [*WORKER, "--controlplane", "192.168.30.10"],
        ["--controlplane", "does not apply", "worker"],
    ),
    ("workers-on-worker", [*WORKER, "--workers", SUBNET], ["--workers", "does not apply", "worker"]),
    ("etcd-metrics-on-worker", [*WORKER, "--with", "etcd-metrics"], ["etcd-metrics", "controlplane", "not worker"]),
    ("nodeport-on-controlplane", [*CONTROLPLANE, "--nodeport"], ["nodeport", "worker", "not controlplane"]),
    (
        "with-nodeport-on-controlplane",
        [*CONTROLPLANE, "--with", "nodeport"],
        ["nodeport", "worker", "not controlplane"],
    ),
    (
        "nodeport-from-without-nodeport",
        [*WORKER, "--nodeport-from", "203.0.113.0/24"],
        ["--nodeport-from needs --nodeport"],
    ),
    (
        "profiles-dir-missing",
        [*WORKER, "--profiles-dir", "/nonexistent/talospatch-profiles"],
        ["--profiles-dir", "/nonexistent/talospatch-profiles", "not a directory"],
    ),
]


@pytest.mark.parametrize("command", ["gen", "explain"])
@pytest.mark.parametrize(
    ("args", "fragments"),
    [pytest.param(args, fragments, id=case) for case, args, fragments in BAD_INPUT],
)
def test_bad_input_is_one_line_and_exit_3(cli: Cli, command: str, args: list[str], fragments: list[str]) -> None:
    message = error_message(cli(command, *args))
    for fragment in fragments:
        assert fragment in message


SUCCESS_CASES = [
    pytest.param(WORKER, id="worker-defaults"),
    pytest.param([*CONTROLPLANE, "--with", "etcd-metrics", "--with", "hubble"], id="controlplane-addons"),
    pytest.param(
        [*WORKER, "--nodeport", "--with", "metallb", "--subnet", "fd00:10::/64"], id="worker-nodeport-dual-stack"
    ),
    pytest.param([*WORKER, "--cni", "calico", "--admin", "10.0.0.5"], id="worker-calico-admin"),
]


@pytest.mark.parametrize("args", SUCCESS_CASES)
def test_stdout_is_only_yaml_and_warnings_go_to_stderr(cli: Cli, args: list[str]) -> None:
    result = ok(cli("gen", *args))
    assert result.out.startswith("# ")
    assert "warning" not in result.out.lower()
    docs = load_docs(result.out)
    assert docs[0] == {"apiVersion": "v1alpha1", "kind": "NetworkDefaultActionConfig", "ingress": "block"}
    rules = docs[1:]
    assert rules, "at least one rule"
    assert all(isinstance(d, dict) and d["kind"] == "NetworkRuleConfig" for d in rules)
    names = [d["name"] for d in rules]
    assert len(names) == len(set(names))
    # stderr: warnings only, each one line with the prefix.
    assert result.err_lines
    assert all(line.startswith(WARNING) for line in result.err_lines), result.err


def test_output_writes_file_equal_to_stdout(cli: Cli, tmp_path: Path) -> None:
    args = [*CONTROLPLANE, "--with", "hubble", "--admin", "10.0.0.5"]
    printed = ok(cli("gen", *args))
    target = tmp_path / "cp.yaml"
    written = ok(cli("gen", *args, "-o", str(target)))
    assert written.out == ""
    assert target.read_bytes() == printed.out.encode("utf-8")
    assert written.err == printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.yaml"]


def test_output_long_option_replaces_existing_file_and_keeps_its_mode(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "w.yaml"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o640)
    ok(cli("gen", *WORKER, "--output", str(target)))
    assert target.read_text(encoding="utf-8").startswith("# Talos ingress firewall patch")
    assert target.stat().st_mode & 0o7777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.yaml"]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(["--role", "worker", "--subnet", "192.168.30.5/24"], id="bad-subnet"),
        pytest.param([*WORKER, "--with", "nope"], id="unknown-addon"),
        pytest.param([*WORKER, "--controlplane", "192.168.30.10"], id="option-not-for-role"),
    ],
)
def test_output_untouched_on_error(cli: Cli, tmp_path: Path, bad: list[str]) -> None:
    target = tmp_path / "patch.yaml"
    original = b"# hand-written\r\nkeep: me\n\x00binary\n"
    target.write_bytes(original)
    error_message(cli("gen", *bad, "-o", str(target)))
    assert target.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


def test_output_not_created_on_error(cli: Cli, tmp_path: Path) -> None:
    error_message(cli("gen", "--role", "worker", "--subnet", "foo", "-o", str(tmp_path / "new.yaml")))
    assert list(tmp_path.iterdir()) == []


def test_output_into_missing_folder_is_one_line_exit_3(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "patch.yaml"
    result = cli("gen", *WORKER, "-o", str(target))
    assert result.code == 3
    assert result.out == ""
    assert "Traceback" not in result.err
    assert result.err_lines[-1] == f"{ERROR}--output {target}: folder {target.parent} does not exist"
    assert not target.parent.exists()
    # Nothing was written, so the one line is the whole of stderr (no "apply with
    # talosctl ... --mode=try" advice for a file that does not exist).
    error_message(result)


def test_output_write_failure_keeps_old_file_and_leaves_no_temp_file(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "patch.yaml"
    target.write_bytes(b"old\n")

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    result = cli("gen", *WORKER, "-o", str(target))
    monkeypatch.undo()
    assert result.code == 3
    assert result.out == ""
    assert "Traceback" not in result.err
    assert result.err_lines[-1] == f"{ERROR}--output {target}: cannot write: No space left on device"
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


def test_same_inputs_same_bytes(cli: Cli) -> None:
    args = [*CONTROLPLANE, "--with", "hubble", "--with", "metallb", "--subnet", "fd00:10::/64"]
    first = ok(cli("gen", *args))
    second = ok(cli("gen", *args))
    assert first.out == second.out
    assert first.err == second.err


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param(
            [*WORKER, "--with", "hubble", "--with", "kubespan"],
            [*WORKER, "--with", "kubespan", "--with", "hubble", "--with", "hubble"],
            id="addon-order-and-duplicates",
        ),
        pytest.param(
            ["--role", "worker", "--subnet", SUBNET, "--subnet", "fd00:10::/64"],
            ["--role", "worker", "--subnet", "fd00:10::/64", "--subnet", SUBNET, "--subnet", SUBNET],
            id="subnet-order-and-duplicates",
        ),
        pytest.param(
            [*WORKER, "--subnet", "fd00:10::/64", "--admin", "2001:db8::1"],
            [*WORKER, "--subnet", "FD00:10::/64", "--admin", "2001:DB8::1"],
            id="upper-case-ipv6",
        ),
        pytest.param(
            [*CONTROLPLANE, "--admin", "10.0.0.5", "--admin", "10.9.0.0/16", "--with", "hubble"],
            [
                "--with",
                "hubble",
                "--admin",
                "10.9.0.0/16",
                "--subnet",
                SUBNET,
                "--admin",
                "10.0.0.5/32",
                "--role",
                "controlplane",
            ],
            id="option-order-and-host-as-32",
        ),
        pytest.param(
            [*CONTROLPLANE, "--controlplane", "192.168.30.11", "--controlplane", "192.168.30.10"],
            [
                *CONTROLPLANE,
                "--controlplane",
                "192.168.30.10",
                "--controlplane",
                "192.168.30.11",
                "--controlplane",
                "192.168.30.10",
            ],
            id="controlplane-order-and-duplicates",
        ),
        pytest.param(WORKER, [*WORKER, "--tunnel", "both"], id="default-tunnel-is-both"),
        pytest.param(WORKER, [*WORKER, "--cni", "cilium"], id="default-cni-is-cilium"),
        pytest.param([*WORKER, "--nodeport"], [*WORKER, "--with", "nodeport"], id="nodeport-flag-or-addon"),
        pytest.param(
            [*WORKER, "--nodeport"], [*WORKER, "--nodeport", "--with", "nodeport"], id="nodeport-flag-and-addon"
        ),
    ],
)
def test_equivalent_inputs_give_identical_bytes(cli: Cli, left: list[str], right: list[str]) -> None:
    a = ok(cli("gen", *left))
    b = ok(cli("gen", *right))
    assert a.out == b.out


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(WORKER, id="worker"),
        pytest.param(
            [
                *CONTROLPLANE,
                "--controlplane",
                "192.168.30.10",
                "--admin",
                "10.0.0.5",
                "--pod-subnet",
                "10.96.0.0/12",
                "--with",
                "etcd-metrics",
                "--tunnel",
                "vxlan",
            ],
            id="controlplane-all-options",
        ),
        pytest.param(
            [*WORKER, "--nodeport", "--nodeport-from", "203.0.113.0/24", "--cni", "flannel"], id="worker-nodeport-flag"
        ),
        pytest.param([*WORKER, "--with", "nodeport"], id="worker-nodeport-addon"),
    ],
)
def test_header_command_reproduces_output(cli: Cli, args: list[str]) -> None:
    first = ok(cli("gen", *args))
    command = first.out.splitlines()[1].removeprefix("#").strip()
    words = shlex.split(command)
    assert words[:2] == ["talospatch", "gen"]
    again = ok(cli(*words[1:]))
    assert again.out == first.out


def test_bytes_do_not_depend_on_hash_seed(tmp_path: Path) -> None:
    args = [
        "gen",
        *WORKER,
        "--subnet",
        "fd00:10::/64",
        "--subnet",
        "10.0.0.0/24",
        "--with",
        "kubespan",
        "--with",
        "hubble",
        "--with",
        "metallb",
        "--with",
        "node-exporter",
        "--admin",
        "10.1.0.0/16",
        "--admin",
        "2001:db8::1",
    ]
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-m", "talospatch", *args],
            capture_output=True,
            cwd=tmp_path,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.add(proc.stdout)
    assert len(outputs) == 1


def test_warning_without_controlplane_names_widened_rules(cli: Cli) -> None:
    result = ok(cli("gen", *CONTROLPLANE, "--admin", "10.0.0.5"))
    found = [w for w in result.warnings if w.startswith("no --controlplane")]
    assert len(found) == 1
    for rule in ("etcd-ingress", "kube-controller-manager-ingress", "kube-scheduler-ingress"):
        assert rule in found[0]
    assert SUBNET in found[0]

    given = ok(cli("gen", *CONTROLPLANE, "--admin", "10.0.0.5", "--controlplane", "192.168.30.10"))
    assert not any("--controlplane" in w for w in given.warnings)


@pytest.mark.parametrize("args", [pytest.param(WORKER, id="worker"), pytest.param(CONTROLPLANE, id="controlplane")])
def test_warning_without_admin(cli: Cli, args: list[str]) -> None:
    result = ok(cli("gen", *args))
    found = [w for w in result.warnings if w.startswith("no --admin")]
    assert len(found) == 1
    assert "apid-ingress" in found[0]

    given = ok(cli("gen", *args, "--admin", "10.0.0.5"))
    assert not any(w.startswith("no --admin") for w in given.warnings)


def test_warning_cilium_with_nodeport(cli: Cli) -> None:
    result = ok(cli("gen", *WORKER, "--nodeport"))
    found = [w for w in result.warnings if "kube-proxy replacement" in w]
    assert len(found) == 1
    assert found[0].startswith("cilium with nodeport")

    flannel = ok(cli("gen", *WORKER, "--nodeport", "--cni", "flannel"))
    assert not any("kube-proxy" in w for w in flannel.warnings)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(WORKER, id="worker"),
        pytest.param(
            [*CONTROLPLANE, "--controlplane", "192.168.30.10", "--admin", "10.0.0.5"],
            id="controlplane-no-other-warning",
        ),
    ],
)
def test_mode_try_advice_always(cli: Cli, tmp_path: Path, args: list[str]) -> None:
    for extra in ([], ["-o", str(tmp_path / "p.yaml")]):
        result = ok(cli("gen", *args, *extra))
        assert sum("--mode=try" in w for w in result.warnings) == 1
