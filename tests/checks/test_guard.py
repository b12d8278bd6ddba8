"""The lockout guard (``gen --from``): every guarded address keeps apid and, on control planes, the API."""

from __future__ import annotations

import ipaddress
import re
import shlex
from pathlib import Path

import pytest

from testing.cluster import (
    ADMIN,
    CONTROLPLANE,
    CONTROLPLANE_PATCH,
    OUTSIDER,
    POD,
    ROOT,
    SUBNET,
    SUBNET6,
    WORKER,
    WORKER_PATCH,
)
from testing.documents import write
from testing.runner import ERROR, WARNING, Cli, Result, error_message, ok

MODE_TRY = "--mode=try"


def lockout_lines(result: Result) -> list[str]:
    """A failed guard: exit 1, nothing on stdout, and only ``lockout:`` error lines."""
    assert result.code == 1, result.err
    assert result.out == ""
    assert "Traceback" not in result.err
    assert MODE_TRY not in result.err
    for line in result.err_lines:
        assert line.startswith((ERROR, WARNING)), line
    assert result.errors, result.err
    for message in result.errors:
        assert message.startswith("lockout: "), message
    return result.errors


def lost(messages: list[str]) -> list[tuple[str, str]]:
    """(address, port) of each lockout line, in order."""
    pairs = []
    for message in messages:
        match = re.match(r"lockout: (\S+) would lose (\d+/(?:tcp|udp)) \(", message)
        assert match, message
        pairs.append((match.group(1), match.group(2)))
    return pairs


def test_gen_from_inside_subnet_passes_without_mode_try_warning(cli: Cli) -> None:
    guarded = ok(cli("gen", *CONTROLPLANE, "--from", "192.168.30.5"))
    assert guarded.out.startswith("# Talos ingress firewall patch")
    assert "kind: NetworkRuleConfig" in guarded.out
    assert not any(MODE_TRY in w for w in guarded.warnings), guarded.err
    assert MODE_TRY not in guarded.err
    assert guarded.errors == []
    # Without --from the advice is there (so the check above can tell).
    unguarded = ok(cli("gen", *CONTROLPLANE))
    assert any(MODE_TRY in w for w in unguarded.warnings)
    # --from changes no rule: the patch differs only in the header command.
    g, u = guarded.out.splitlines(), unguarded.out.splitlines()
    assert g[1] == u[1] + " --from 192.168.30.5"
    assert g[:1] + g[2:] == u[:1] + u[2:]


@pytest.mark.parametrize(
    ("role_args", "ports"),
    [
        pytest.param(CONTROLPLANE, ["50000/tcp", "6443/tcp"], id="controlplane"),
        pytest.param(WORKER, ["50000/tcp"], id="worker"),
    ],
)
def test_gen_from_admin_without_admin_is_a_lockout(cli: Cli, role_args: list[str], ports: list[str]) -> None:
    result = cli("gen", *role_args, "--from", ADMIN)
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, port) for port in ports]
    for message in messages:
        assert message.endswith(f"; add --admin {ADMIN}"), message
        assert f"{ADMIN} is outside" in message
    if "6443/tcp" not in ports:
        assert "6443" not in result.err
    assert messages[0] == (
        f"lockout: {ADMIN} would lose 50000/tcp (dropped: {ADMIN} is outside apid-ingress (192.168.30.0/24)); "
        f"add --admin {ADMIN}"
    )


@pytest.mark.parametrize(
    "role_args", [pytest.param(CONTROLPLANE, id="controlplane"), pytest.param(WORKER, id="worker")]
)
@pytest.mark.parametrize("admin", [ADMIN, f"{ADMIN}/32", "196.45.28.0/24"])
def test_gen_from_admin_with_admin_passes(cli: Cli, role_args: list[str], admin: str) -> None:
    result = ok(cli("gen", *role_args, "--admin", admin, "--from", ADMIN))
    assert "kind: NetworkRuleConfig" in result.out
    assert result.errors == []
    assert MODE_TRY not in result.err


def test_gen_from_several_addresses_one_line_per_lost_pair(cli: Cli) -> None:
    result = cli(
        "gen",
        *CONTROLPLANE,
        "--admin",
        ADMIN,
        "--from",
        OUTSIDER,
        "--from",
        ADMIN,
        "--from",
        "192.168.30.5",
        "--from",
        "198.51.100.7",
    )
    assert sorted(lost(lockout_lines(result))) == sorted(
        [(OUTSIDER, "50000/tcp"), (OUTSIDER, "6443/tcp"), ("198.51.100.7", "50000/tcp"), ("198.51.100.7", "6443/tcp")]
    )


@pytest.mark.parametrize(
    "spellings",
    [
        pytest.param([ADMIN, ADMIN], id="same"),
        pytest.param([ADMIN, f" {ADMIN} "], id="whitespace"),
        pytest.param(["2001:db8:45::20", "2001:db8:45:0::20", "2001:DB8:45::20"], id="ipv6-spellings"),
    ],
)
def test_gen_from_repeated_address_reports_each_lost_pair_once(cli: Cli, spellings: list[str]) -> None:
    from_args = [a for s in spellings for a in ("--from", s)]
    result = cli("gen", *WORKER, "--subnet", SUBNET6, *from_args)
    pairs = lost(lockout_lines(result))
    assert pairs == [(str(ipaddress.ip_address(spellings[0].strip())), "50000/tcp")], result.err


def test_gen_from_pod_address_on_controlplane_loses_apid_only(cli: Cli) -> None:
    result = cli("gen", *CONTROLPLANE, "--from", POD)
    assert lost(lockout_lines(result)) == [(POD, "50000/tcp")]
    assert "6443" not in result.err
    # A custom pod subnet: its addresses reach the API, the default one's do not.
    custom = cli("gen", *CONTROLPLANE, "--pod-subnet", "10.42.0.0/16", "--from", "10.42.0.9", "--from", POD)
    assert sorted(lost(lockout_lines(custom))) == [
        ("10.244.1.5", "50000/tcp"),
        ("10.244.1.5", "6443/tcp"),
        ("10.42.0.9", "50000/tcp"),
    ]


def test_gen_from_lockout_writes_no_file(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "new.yaml"
    lockout_lines(cli("gen", *WORKER, "--from", ADMIN, "-o", str(target)))
    assert list(tmp_path.iterdir()) == []


def test_gen_from_lockout_leaves_existing_file_untouched(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "patch.yaml"
    original = b"# hand-written\r\nkeep: me\n\x00binary\n"
    target.write_bytes(original)
    target.chmod(0o640)
    before = target.stat()
    lockout_lines(cli("gen", *CONTROLPLANE, "--from", ADMIN, "-o", str(target)))
    assert target.read_bytes() == original
    after = target.stat()
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


def test_gen_from_passing_writes_file(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "patch.yaml"
    result = ok(cli("gen", *WORKER, "--admin", ADMIN, "--from", ADMIN, "-o", str(target)))
    assert result.out == ""
    assert MODE_TRY not in result.err
    stdout = ok(cli("gen", *WORKER, "--admin", ADMIN, "--from", ADMIN)).out
    assert target.read_text(encoding="utf-8") == stdout


def test_gen_from_in_header_command_normalized_sorted_deduplicated(cli: Cli) -> None:
    result = ok(
        cli(
            "gen",
            *WORKER,
            "--subnet",
            SUBNET6,
            "--from",
            "fd00:30:0::5",
            "--from",
            "192.168.30.9",
            "--from",
            " 192.168.30.5 ",
            "--from",
            "192.168.30.9",
            "--from",
            "FD00:30::5",
            "--from",
            "192.168.30.10",
        )
    )
    command = result.out.splitlines()[1].removeprefix("#").strip()
    words = shlex.split(command)
    froms = [words[i + 1] for i, w in enumerate(words) if w == "--from"]
    assert froms == ["192.168.30.5", "192.168.30.9", "192.168.30.10", "fd00:30::5"]
    assert command.endswith("--from 192.168.30.5 --from 192.168.30.9 --from 192.168.30.10 --from fd00:30::5")
    # The header command reproduces the output byte for byte.
    assert words[:2] == ["talospatch", "gen"]
    again = ok(cli(*words[1:]))
    assert again.out == result.out


def test_gen_without_from_has_none_in_header(cli: Cli) -> None:
    result = ok(cli("gen", *WORKER))
    assert "--from" not in result.out.splitlines()[1]


def test_reference_files_are_guarded_and_reproducible(cli: Cli) -> None:
    # out/ is built from the spec at the root, whose from: guards the admin workstation.
    for patch in (CONTROLPLANE_PATCH, WORKER_PATCH):
        header = patch.read_text(encoding="utf-8").splitlines()[1]
        assert re.fullmatch(r"#   talospatch build talospatch\.yaml \(Talos v1\.14\.0\) \(generation \d+\)", header), (
            header
        )
    assert f"from:\n    - {ADMIN}\n" in (ROOT / "talospatch.yaml").read_text(encoding="utf-8")
    assert ok(cli("build", "--check", str(ROOT / "talospatch.yaml"))).out == ""


def test_gen_from_ipv6_dual_stack(cli: Cli) -> None:
    dual = [*CONTROLPLANE, "--subnet", SUBNET6]
    inside = ok(cli("gen", *dual, "--from", "fd00:30::7", "--from", "192.168.30.7"))
    assert "--from 192.168.30.7 --from fd00:30::7" in inside.out.splitlines()[1]
    assert MODE_TRY not in inside.err
    outside = cli("gen", *dual, "--from", "2001:db8:45::20")
    messages = lockout_lines(outside)
    assert lost(messages) == [("2001:db8:45::20", "50000/tcp"), ("2001:db8:45::20", "6443/tcp")]
    assert all(m.endswith("; add --admin 2001:db8:45::20") for m in messages)
    ok(cli("gen", *dual, "--admin", "2001:db8:45::/48", "--from", "2001:db8:45::20"))
    # An IPv6 workstation on an IPv4-only cluster has no rule of its family.
    v4_only = cli("gen", *CONTROLPLANE, "--from", "fd00:30::7")
    assert lost(lockout_lines(v4_only)) == [("fd00:30::7", "50000/tcp"), ("fd00:30::7", "6443/tcp")]


@pytest.mark.parametrize(
    ("value", "fragments"),
    [
        pytest.param("nope", ["--from", "'nope'", "not an IP address"], id="word"),
        pytest.param("10.0.0.0/24", ["--from", "'10.0.0.0/24'"], id="cidr"),
        pytest.param("", ["--from", "''"], id="empty"),
    ],
)
def test_gen_from_bad_address_exit_3(cli: Cli, tmp_path: Path, value: str, fragments: list[str]) -> None:
    target = tmp_path / "out.yaml"
    message = error_message(cli("gen", *WORKER, "--from", value, "-o", str(target)))
    for fragment in fragments:
        assert fragment in message, message
    assert not target.exists()


SSH_RULE = """
  - name: ssh-ingress
    service: ssh
    ports: [2222]
    protocol: tcp
    from: [nodes, admins]
    why: a test needs it
    source: tests/test_cli_check.py
"""


APID_RULE = """
  - name: apid-ingress
    service: Talos API
    ports: [50000]
    protocol: tcp
    from: [nodes, admins]
    why: a test needs it
    source: tests/test_cli_check.py
"""


def bastion(folder: Path, lockout: str | None, rules: str) -> Path:
    text = "kind: role\ndescription: a test role\n"
    if lockout is not None:
        text += f"lockout: {lockout}\n"
    text += "rules:" + rules
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bastion.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def bastion_args(folder: Path, *extra: str) -> list[str]:
    return ["gen", "--role", "bastion", "--cni", "none", "--subnet", SUBNET, "--profiles-dir", str(folder), *extra]


def test_custom_role_lockout_port_is_guarded(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    bastion(folder, "[2222/tcp]", SSH_RULE + APID_RULE)
    result = cli(*bastion_args(folder, "--from", ADMIN))
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, "2222/tcp")]
    assert messages[0].endswith(f"; add --admin {ADMIN}")
    assert "50000" not in result.err
    ok(cli(*bastion_args(folder, "--admin", ADMIN, "--from", ADMIN)))
    # Only 2222/tcp is guarded: a role with no apid rule at all passes.
    only_ssh = tmp_path / "only-ssh"
    bastion(only_ssh, "[2222/tcp]", SSH_RULE)
    passed = ok(cli(*bastion_args(only_ssh, "--admin", ADMIN, "--from", ADMIN)))
    assert "name: ssh-ingress" in passed.out


def test_custom_role_lockout_several_ports(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    bastion(folder, "[2222/tcp, 50000/tcp, 9999/udp]", SSH_RULE + APID_RULE)
    result = cli(*bastion_args(folder, "--admin", ADMIN, "--from", ADMIN))
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, "9999/udp")]
    assert messages[0] == (
        f"lockout: {ADMIN} would lose 9999/udp (dropped: no rule allows 9999/udp (default action block)); "
        "no rule for this port takes --admin"
    )


def test_custom_role_without_lockout_guards_apid(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    bastion(folder, None, SSH_RULE + APID_RULE)
    result = cli(*bastion_args(folder, "--from", ADMIN))
    messages = lockout_lines(result)
    assert lost(messages) == [(ADMIN, "50000/tcp")]
    assert messages[0].endswith(f"; add --admin {ADMIN}")
    assert "2222" not in result.err
    ok(cli(*bastion_args(folder, "--admin", ADMIN, "--from", ADMIN)))
    # Without an apid rule, even an address inside the subnet loses 50000/tcp.
    no_apid = tmp_path / "no-apid"
    bastion(no_apid, None, SSH_RULE)
    inside = cli(*bastion_args(no_apid, "--from", "192.168.30.5"))
    assert lockout_lines(inside) == [
        (
            "lockout: 192.168.30.5 would lose 50000/tcp (dropped: no rule allows 50000/tcp (default action block)); "
            "no rule for this port takes --admin"
        )
    ]


@pytest.mark.parametrize(
    ("lockout", "value"),
    [
        ("[abc]", "abc"),
        ("[2222/icmp]", "2222/icmp"),
        ("[70000/tcp]", "70000/tcp"),
        ('["2222"]', "2222"),
        ("[tcp/2222]", "tcp/2222"),
    ],
)
def test_custom_role_bad_lockout_is_profile_error(cli: Cli, tmp_path: Path, lockout: str, value: str) -> None:
    folder = tmp_path / "profiles"
    path = bastion(folder, lockout, SSH_RULE + APID_RULE)
    for extra in (["--from", ADMIN], []):
        message = error_message(cli(*bastion_args(folder, *extra)))
        assert message == f"{path}: lockout: {value!r} is not PORT/tcp or PORT/udp"


def test_custom_role_lockout_not_a_string_is_profile_error(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    path = bastion(folder, "[2222]", SSH_RULE + APID_RULE)
    message = error_message(cli(*bastion_args(folder, "--from", ADMIN)))
    assert message.startswith(f"{path}: lockout"), message


def test_lockout_only_in_role_profiles(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    path = write(
        folder / "extra.yaml",
        "kind: addon\ndescription: an add-on\nlockout: [2222/tcp]\nrules:" + SSH_RULE,
    )
    message = error_message(cli("gen", *WORKER, "--profiles-dir", str(folder), "--with", "extra", "--from", ADMIN))
    assert message == f"{path}: lockout: only a role profile has lockout ports"
