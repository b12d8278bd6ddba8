"""The ``talospatch`` command line, run through ``talospatch.cli.main``.

``main`` is the one error handler: every test calls it inside ``pytest.raises(SystemExit)``
and reads the exit code, stdout and stderr separately. Errors must be exactly one
``talospatch: error: ...`` line on stderr (no traceback) with nothing on stdout; warnings go
to stderr as ``talospatch: warning: ...``; stdout carries only the patch (or the table).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ERROR, WARNING, Result, error_message, ok, run
from ruamel.yaml import YAML

import talospatch

PROFILES = Path(__file__).resolve().parent.parent / "profiles"
SUBNET = "192.168.30.0/24"
WORKER = ["--role", "worker", "--subnet", SUBNET]
CONTROLPLANE = ["--role", "controlplane", "--subnet", SUBNET]



# --------------------------------------------------------------------------- helpers


def safe_yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def load_docs(text: str) -> list[object]:
    return [doc for doc in safe_yaml().load_all(text) if doc is not None]


def rule_docs(text: str) -> list[dict[str, object]]:
    return [d for d in load_docs(text) if isinstance(d, dict) and d.get("kind") == "NetworkRuleConfig"]


def builtin_profiles() -> dict[str, dict[str, object]]:
    """Every file in profiles/, by name, as plain data."""
    return {path.stem: safe_yaml().load(path.read_text(encoding="utf-8")) for path in sorted(PROFILES.glob("*.yaml"))}


def names_of_kind(kind: str) -> list[str]:
    return sorted(name for name, data in builtin_profiles().items() if data["kind"] == kind)


def warnings_of(result: Result) -> list[str]:
    return [line.removeprefix(WARNING) for line in result.err_lines if line.startswith(WARNING)]


def write_profile(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def addon_text(
    name: str = "syslog-ingress", ports: str = "[5514]", protocol: str = "udp", from_: str = "[nodes]", extra: str = ""
) -> str:
    return (
        textwrap.dedent(f"""\
        kind: addon
        description: a test add-on
        rules:
          - name: {name}
            service: test service
            ports: {ports}
            protocol: {protocol}
            from: {from_}
            why: a test needs it
            source: tests/test_cli.py
        """)
        + extra
    )


# --------------------------------------------------------------------------- 1. bad input


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
def test_bad_input_is_one_line_and_exit_3(
    capsys: pytest.CaptureFixture[str], command: str, args: list[str], fragments: list[str]
) -> None:
    message = error_message(run(capsys, command, *args))
    for fragment in fragments:
        assert fragment in message


# --------------------------------------------------------------------------- 2. usage errors


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["gen", *WORKER, "--bogus"], "No such option: --bogus", id="gen-unknown-option"),
        pytest.param(["explain", *WORKER, "--bogus"], "No such option: --bogus", id="explain-unknown-option"),
        pytest.param(["gen", "--subnet", SUBNET], "Missing option '--role'", id="gen-missing-role"),
        pytest.param(["explain", "--subnet", SUBNET], "Missing option '--role'", id="explain-missing-role"),
        pytest.param(["gen", "--role"], "'--role' requires an argument", id="role-without-value"),
        pytest.param(["frobnicate"], "No such command 'frobnicate'", id="unknown-command"),
        pytest.param(["profiles", "show"], "Missing argument", id="profiles-show-without-name"),
    ],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    result = run(capsys, *args)
    assert result.code == 2
    assert result.out == ""
    assert "Traceback" not in result.err
    assert "Error: " in result.err
    assert fragment in result.err


# --------------------------------------------------------------------------- 3. profile files


def test_profile_bad_yaml_names_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_profile(
        tmp_path / "p",
        "broken",
        """
        kind: addon
        description: d
        rules:
          - name: a
           service: s
        """,
    )
    message = error_message(run(capsys, "gen", *WORKER, "--profiles-dir", str(tmp_path / "p")))
    assert message.startswith(f"{path}: line 5: invalid YAML")


def test_profile_duplicate_key_names_file_and_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_profile(
        tmp_path / "p",
        "twice",
        """
        kind: addon
        description: d
        kind: cni
        rules: []
        """,
    )
    message = error_message(run(capsys, "gen", *WORKER, "--profiles-dir", str(tmp_path / "p")))
    assert message.startswith(f"{path}: line 3: invalid YAML")
    assert "duplicate key" in message


# (id, file text, fragments after "<file>: ")
PROFILE_ERRORS = [
    ("unknown-key-in-rule", addon_text(extra="    colour: red\n"), ["rule syslog-ingress", "unknown key 'colour'"]),
    ("unknown-top-level-key", "kind: addon\ndescription: d\ncolour: red\n", ["unknown key 'colour'"]),
    ("port-over-65535", addon_text(ports="[70000]"), ["rule syslog-ingress", "ports", "70000", "0-65535"]),
    (
        "overlapping-port-range",
        addon_text(ports='["8000-8100", 8050]'),
        ["rule syslog-ingress", "ports", "overlaps with 8000-8100"],
    ),
    ("duplicate-port", addon_text(ports="[8080, 8080]"), ["rule syslog-ingress", "ports", "overlaps"]),
    ("reversed-range", addon_text(ports='["9000-8000"]'), ["rule syslog-ingress", "ports", "9000-8000"]),
    ("quoted-single-port", addon_text(ports='["80"]'), ["rule syslog-ingress", "ports", '"80"', "unquoted integer"]),
    (
        "unknown-source-group",
        addon_text(from_="[nodes, everyone]"),
        ["rule syslog-ingress", "from", "'everyone'", "valid: nodes"],
    ),
    ("unknown-protocol", addon_text(protocol="sctp"), ["rule syslog-ingress", "protocol", "tcp", "udp"]),
    (
        "missing-why",
        "kind: addon\ndescription: d\nrules:\n  - name: r1\n    service: s\n"
        "    ports: [1]\n    protocol: tcp\n    from: [nodes]\n    source: s\n",
        ["rule r1", "why", "missing"],
    ),
    ("unknown-kind", "kind: plugin\ndescription: d\n", ["kind", "role", "cni", "addon"]),
    ("not-a-mapping-list", "- kind: addon\n  description: d\n", ["mapping"]),
    ("not-a-mapping-scalar", "just a string\n", ["mapping"]),
    ("empty-file", "", ["one YAML document", "0"]),
    ("two-documents", "kind: addon\ndescription: d\n---\nkind: addon\ndescription: e\n", ["one YAML document", "2"]),
    ("tunnel-on-addon", "kind: addon\ndescription: d\ntunnels: [vxlan]\n", ["tunnels", "cni"]),
]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [pytest.param(text, fragments, id=case) for case, text, fragments in PROFILE_ERRORS],
)
def test_profile_file_errors_name_file_and_entry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, fragments: list[str]
) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    path = folder / "custom.yaml"
    path.write_text(text, encoding="utf-8")
    message = error_message(run(capsys, "gen", *WORKER, "--profiles-dir", str(folder), "--with", "custom"))
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message.removeprefix(f"{path}: ")


def test_profile_file_errors_also_from_profiles_list(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_profile(tmp_path / "p", "custom", addon_text(ports="[70000]"))
    message = error_message(run(capsys, "profiles", "list", "--profiles-dir", str(tmp_path / "p")))
    assert message.startswith(f"{path}: rule syslog-ingress: ports")


def test_rule_name_clash_with_builtin_role_names_file_and_rule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    write_profile(folder, "clash", addon_text(name="kubelet-ingress", ports="[8080]", protocol="tcp"))
    message = error_message(run(capsys, "gen", *WORKER, "--profiles-dir", str(folder), "--with", "clash"))
    assert "kubelet-ingress" in message
    assert "worker" in message
    # The file that brings the clash is named, as for every other profile-file error.
    assert "clash.yaml" in message


def test_rule_name_clash_is_fine_when_not_selected(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    write_profile(folder, "clash", addon_text(name="kubelet-ingress", ports="[8080]", protocol="tcp"))
    result = ok(run(capsys, "gen", *WORKER, "--profiles-dir", str(folder)))
    assert [d["name"] for d in rule_docs(result.out)].count("kubelet-ingress") == 1


def test_custom_addon_is_selectable_and_rendered(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    write_profile(folder, "syslog", addon_text())
    result = ok(run(capsys, "gen", *WORKER, "--profiles-dir", str(folder), "--with", "syslog"))
    docs = {d["name"]: d for d in rule_docs(result.out)}
    assert docs["syslog-ingress"] == {
        "apiVersion": "v1alpha1",
        "kind": "NetworkRuleConfig",
        "name": "syslog-ingress",
        "portSelector": {"ports": [5514], "protocol": "udp"},
        "ingress": [{"subnet": SUBNET}],
    }
    header_command = result.out.splitlines()[1]
    assert "--with syslog" in header_command
    assert f"--profiles-dir {folder}" in header_command

    listed = ok(run(capsys, "profiles", "list", "--profiles-dir", str(folder)))
    assert any(line.split()[:2] == ["syslog", "addon"] for line in listed.out.splitlines())


def test_custom_file_replaces_builtin_of_same_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    path = write_profile(folder, "hubble", addon_text(name="hubble-ingress", ports="[4245]", protocol="tcp"))
    builtin = ok(run(capsys, "gen", *WORKER, "--with", "hubble"))
    custom = ok(run(capsys, "gen", *WORKER, "--with", "hubble", "--profiles-dir", str(folder)))
    assert {d["name"]: d for d in rule_docs(builtin.out)}["hubble-ingress"]["portSelector"]["ports"] == [4244]
    hubble = [d for d in rule_docs(custom.out) if d["name"].startswith("hubble")]
    assert [(d["name"], d["portSelector"]["ports"]) for d in hubble] == [("hubble-ingress", [4245])]

    shown = ok(run(capsys, "profiles", "show", "hubble", "--profiles-dir", str(folder)))
    assert shown.out.splitlines()[0].startswith(f"hubble (addon, {path}): a test add-on")
    listed = ok(run(capsys, "profiles", "list", "--profiles-dir", str(folder)))
    assert [line.split()[0] for line in listed.out.splitlines()].count("hubble") == 1


def test_custom_role_replaces_builtin_role(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "p"
    write_profile(
        folder,
        "worker",
        """
        kind: role
        description: a worker with apid only
        rules:
          - name: apid-ingress
            service: Talos API
            ports: [50000]
            protocol: tcp
            from: [nodes]
            why: test
            source: test
        """,
    )
    result = ok(run(capsys, "gen", *WORKER, "--cni", "none", "--profiles-dir", str(folder)))
    assert [d["name"] for d in rule_docs(result.out)] == ["apid-ingress"]


# --------------------------------------------------------------------------- 4. stdout cleanliness

SUCCESS_CASES = [
    pytest.param(WORKER, id="worker-defaults"),
    pytest.param([*CONTROLPLANE, "--with", "etcd-metrics", "--with", "hubble"], id="controlplane-addons"),
    pytest.param(
        [*WORKER, "--nodeport", "--with", "metallb", "--subnet", "fd00:10::/64"], id="worker-nodeport-dual-stack"
    ),
    pytest.param([*WORKER, "--cni", "calico", "--admin", "10.0.0.5"], id="worker-calico-admin"),
]


@pytest.mark.parametrize("args", SUCCESS_CASES)
def test_stdout_is_only_yaml_and_warnings_go_to_stderr(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    result = ok(run(capsys, "gen", *args))
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


# --------------------------------------------------------------------------- 5. --output


def test_output_writes_file_equal_to_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = [*CONTROLPLANE, "--with", "hubble", "--admin", "10.0.0.5"]
    printed = ok(run(capsys, "gen", *args))
    target = tmp_path / "cp.yaml"
    written = ok(run(capsys, "gen", *args, "-o", str(target)))
    assert written.out == ""
    assert target.read_bytes() == printed.out.encode("utf-8")
    assert written.err == printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.yaml"]


def test_output_long_option_replaces_existing_file_and_keeps_its_mode(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "w.yaml"
    target.write_text("old\n", encoding="utf-8")
    target.chmod(0o640)
    ok(run(capsys, "gen", *WORKER, "--output", str(target)))
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
def test_output_untouched_on_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, bad: list[str]) -> None:
    target = tmp_path / "patch.yaml"
    original = b"# hand-written\r\nkeep: me\n\x00binary\n"
    target.write_bytes(original)
    error_message(run(capsys, "gen", *bad, "-o", str(target)))
    assert target.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


def test_output_not_created_on_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    error_message(run(capsys, "gen", "--role", "worker", "--subnet", "foo", "-o", str(tmp_path / "new.yaml")))
    assert list(tmp_path.iterdir()) == []


def test_output_into_missing_folder_is_one_line_exit_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "missing" / "patch.yaml"
    result = run(capsys, "gen", *WORKER, "-o", str(target))
    assert result.code == 3
    assert result.out == ""
    assert "Traceback" not in result.err
    assert result.err_lines[-1] == f"{ERROR}--output {target}: folder {target.parent} does not exist"
    assert not target.parent.exists()
    # Nothing was written, so the one line is the whole of stderr (no "apply with
    # talosctl ... --mode=try" advice for a file that does not exist).
    error_message(result)


def test_output_write_failure_keeps_old_file_and_leaves_no_temp_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "patch.yaml"
    target.write_bytes(b"old\n")

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    result = run(capsys, "gen", *WORKER, "-o", str(target))
    monkeypatch.undo()
    assert result.code == 3
    assert result.out == ""
    assert "Traceback" not in result.err
    assert result.err_lines[-1] == f"{ERROR}--output {target}: cannot write: No space left on device"
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


# --------------------------------------------------------------------------- 6. determinism


def test_same_inputs_same_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*CONTROLPLANE, "--with", "hubble", "--with", "metallb", "--subnet", "fd00:10::/64"]
    first = ok(run(capsys, "gen", *args))
    second = ok(run(capsys, "gen", *args))
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
def test_equivalent_inputs_give_identical_bytes(
    capsys: pytest.CaptureFixture[str], left: list[str], right: list[str]
) -> None:
    a = ok(run(capsys, "gen", *left))
    b = ok(run(capsys, "gen", *right))
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
def test_header_command_reproduces_output(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    first = ok(run(capsys, "gen", *args))
    command = first.out.splitlines()[1].removeprefix("#").strip()
    words = shlex.split(command)
    assert words[:2] == ["talospatch", "gen"]
    again = ok(run(capsys, *words[1:]))
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


# --------------------------------------------------------------------------- 7. version, help, profiles


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "--version"))
    assert result.out == f"talospatch {talospatch.__version__}\n"
    assert re.fullmatch(r"talospatch \d+\.\d+\.\d+\S*\n", result.out)
    assert result.err == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["--help"], ["Usage: talospatch", "gen", "explain", "profiles", "--version"], id="root-long"),
        pytest.param(["-h"], ["Usage: talospatch", "gen", "explain", "profiles"], id="root-short"),
        pytest.param(
            ["gen", "--help"], ["Usage: talospatch gen", "--role", "--subnet", "--with", "--output"], id="gen"
        ),
        pytest.param(["explain", "--help"], ["Usage: talospatch explain", "--role", "--subnet"], id="explain"),
        pytest.param(["profiles", "--help"], ["Usage: talospatch profiles", "list", "show"], id="profiles"),
    ],
)
def test_help_exits_0(capsys: pytest.CaptureFixture[str], args: list[str], fragments: list[str]) -> None:
    result = ok(run(capsys, *args))
    assert result.err == ""
    for fragment in fragments:
        assert fragment in result.out


def test_profiles_list_shows_every_file_with_its_kind(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "profiles", "list"))
    lines = result.out.splitlines()
    assert lines[0].split() == ["name", "kind", "description"]
    listed = {tuple(line.split()[:2]) for line in lines[1:]}
    expected = {(name, data["kind"]) for name, data in builtin_profiles().items()}
    assert listed == expected
    assert len(lines) - 1 == len(expected)
    for line in lines[1:]:
        name = line.split()[0]
        assert line.rstrip().endswith(builtin_profiles()[name]["description"])


def test_profiles_show_cilium(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "profiles", "show", "cilium"))
    data = builtin_profiles()["cilium"]
    lines = result.out.splitlines()
    assert lines[0] == f"cilium (cni, profiles/cilium.yaml): {data['description']}"
    assert lines[1].split()[:4] == ["rule", "ports", "protocol", "from"]
    assert len(lines) == 2 + len(data["rules"])
    for line, rule in zip(lines[2:], data["rules"], strict=True):
        assert line.startswith(rule["name"])
        if rule.get("tunnel"):
            assert f"(--tunnel {rule['tunnel']})" in line
        for port in rule["ports"]:
            assert str(port) in line
        assert rule["why"] in line


def test_profiles_show_unknown_lists_valid_names(capsys: pytest.CaptureFixture[str]) -> None:
    message = error_message(run(capsys, "profiles", "show", "nope"))
    assert "'nope'" in message
    assert message.endswith("valid: " + ", ".join(sorted(builtin_profiles())))


# --------------------------------------------------------------------------- 8. explain


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(WORKER, id="worker"),
        pytest.param(
            [*CONTROLPLANE, "--admin", "10.0.0.5", "--with", "metallb", "--with", "etcd-metrics"],
            id="controlplane-multi-protocol",
        ),
    ],
)
def test_explain_piped_is_a_plain_table(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    table = ok(run(capsys, "explain", *args))
    patch = ok(run(capsys, "gen", *args))
    lines = table.out.splitlines()
    header = lines[0]
    assert re.split(r" {2,}", header) == ["rule", "ports", "protocol", "allowed sources", "why"]
    # Columns are padded: each cell of every row starts where its header starts.
    starts = [header.index(title) for title in ("ports", "protocol", "allowed sources", "why")]
    docs = rule_docs(patch.out)
    assert len(lines) - 1 == len(docs)
    for line, doc in zip(lines[1:], docs, strict=True):
        assert line.startswith(doc["name"] + " ")
        for start in starts:
            assert line[start - 2 : start] == "  ", line
            assert line[start] != " ", line
        ports = ", ".join(str(p) for p in doc["portSelector"]["ports"])
        assert line[starts[0] :].startswith(ports + " ")
        assert line[starts[1] :].startswith(doc["portSelector"]["protocol"] + " ")
        for entry in doc["ingress"]:
            assert entry["subnet"] in line[starts[2] : starts[3]]
    assert "\x1b[" not in table.out  # no colours or box drawing when piped
    assert all(line.startswith(WARNING) for line in table.err_lines)


# --------------------------------------------------------------------------- 9. warnings


def test_warning_without_controlplane_names_widened_rules(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "gen", *CONTROLPLANE, "--admin", "10.0.0.5"))
    found = [w for w in warnings_of(result) if w.startswith("no --controlplane")]
    assert len(found) == 1
    for rule in ("etcd-ingress", "kube-controller-manager-ingress", "kube-scheduler-ingress"):
        assert rule in found[0]
    assert SUBNET in found[0]

    given = ok(run(capsys, "gen", *CONTROLPLANE, "--admin", "10.0.0.5", "--controlplane", "192.168.30.10"))
    assert not any("--controlplane" in w for w in warnings_of(given))


@pytest.mark.parametrize("args", [pytest.param(WORKER, id="worker"), pytest.param(CONTROLPLANE, id="controlplane")])
def test_warning_without_admin(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    result = ok(run(capsys, "gen", *args))
    found = [w for w in warnings_of(result) if w.startswith("no --admin")]
    assert len(found) == 1
    assert "apid-ingress" in found[0]

    given = ok(run(capsys, "gen", *args, "--admin", "10.0.0.5"))
    assert not any(w.startswith("no --admin") for w in warnings_of(given))


def test_warning_cilium_with_nodeport(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "gen", *WORKER, "--nodeport"))
    found = [w for w in warnings_of(result) if "kube-proxy replacement" in w]
    assert len(found) == 1
    assert found[0].startswith("cilium with nodeport")

    flannel = ok(run(capsys, "gen", *WORKER, "--nodeport", "--cni", "flannel"))
    assert not any("kube-proxy" in w for w in warnings_of(flannel))


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
def test_mode_try_advice_always(capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str]) -> None:
    for extra in ([], ["-o", str(tmp_path / "p.yaml")]):
        result = ok(run(capsys, "gen", *args, *extra))
        assert sum("--mode=try" in w for w in warnings_of(result)) == 1


def test_explain_warnings_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok(run(capsys, "explain", *CONTROLPLANE))
    assert any(w.startswith("no --controlplane") for w in warnings_of(result))
    assert "warning" not in result.out


# --------------------------------------------------------------------------- 10. lean start-up

_PROBE = """
import contextlib, io, json, sys
from talospatch.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _probe(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("args", [pytest.param(["--help"], id="help"), pytest.param(["--version"], id="version")])
def test_help_does_not_import_pydantic_or_ruamel(args: list[str]) -> None:
    probe = _probe(*args)
    assert probe["code"] == 0
    assert "pydantic" not in probe["modules"]
    assert "ruamel" not in probe["modules"]


def test_gen_help_does_not_import_ruamel() -> None:
    probe = _probe("gen", "--help")
    assert probe["code"] == 0
    assert "ruamel" not in probe["modules"]


def test_probe_sees_heavy_imports_when_generating() -> None:
    # The control for the tests above: the probe does see the imports a real run makes.
    probe = _probe("gen", *WORKER)
    assert probe["code"] == 0
    assert "pydantic" in probe["modules"]
    assert "ruamel" in probe["modules"]


# --------------------------------------------------------------------------- 11. internal bugs


def test_unexpected_exception_is_exit_4_with_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import talospatch.patch

    def boom(generated: object, command: str) -> str:
        raise RuntimeError("boom in render")

    monkeypatch.setattr(talospatch.patch, "render", boom)
    target = tmp_path / "patch.yaml"
    target.write_bytes(b"old\n")
    for extra in ([], ["-o", str(target)]):
        result = run(capsys, "gen", *WORKER, *extra)
        assert result.code == 4
        assert result.out == ""
        assert "Traceback (most recent call last)" in result.err
        assert "RuntimeError: boom in render" in result.err
        assert result.err_lines[-1] == "talospatch: internal error; please report this as a bug"
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


def test_internal_talospatch_error_is_exit_4_with_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import talospatch.patch
    import talospatch.talosdocs

    monkeypatch.setattr(
        talospatch.patch, "apply_patches", lambda patches: talospatch.talosdocs.Firewall("block", ())
    )
    result = run(capsys, "gen", *WORKER)
    assert result.code == 4
    assert result.out == ""
    assert "Traceback (most recent call last)" in result.err
    assert result.err_lines[-1] == (
        "talospatch: internal error: the rendered patch does not read back as the generated rules; "
        "please report this as a bug"
    )


def test_keyboard_interrupt_exits_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import talospatch.cli

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(talospatch.cli, "app", interrupted)
    result = run(capsys, "gen", *WORKER)
    assert result.code == 130
    assert result.out == ""
    assert "Traceback" not in result.err
