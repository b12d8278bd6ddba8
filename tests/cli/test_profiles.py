"""``talospatch profiles list|show``."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.documents import addon_text, builtin_profiles, write_profile
from testing.runner import Cli, error_message, ok


def test_profiles_list_shows_every_file_with_its_kind(cli: Cli) -> None:
    result = ok(cli("profiles", "list"))
    lines = result.out.splitlines()
    assert lines[0].split() == ["name", "kind", "description"]
    listed = {tuple(line.split()[:2]) for line in lines[1:]}
    expected = {(name, data["kind"]) for name, data in builtin_profiles().items()}
    assert listed == expected
    assert len(lines) - 1 == len(expected)
    for line in lines[1:]:
        name = line.split()[0]
        assert line.rstrip().endswith(builtin_profiles()[name]["description"])


def test_profiles_show_cilium(cli: Cli) -> None:
    result = ok(cli("profiles", "show", "cilium"))
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


def test_profiles_show_unknown_lists_valid_names(cli: Cli) -> None:
    message = error_message(cli("profiles", "show", "nope"))
    assert "'nope'" in message
    assert message.endswith("valid: " + ", ".join(sorted(builtin_profiles())))


def test_profiles_which_names_the_profile_entries_that_open_a_port(cli: Cli) -> None:
    lines = ok(cli("profiles", "which", "9963/tcp")).out.splitlines()
    assert lines[0].split()[:5] == ["rule", "profile", "ports", "protocol", "from"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["cilium-metrics-ingress", "cilium-metrics", "(addon)", "9962-9965"],
        ["trust-nodes-tcp", "trust-nodes", "(addon)", "1-65535"],
    ]


def test_profiles_which_bare_port_means_both_protocols_and_shows_the_tunnel(cli: Cli) -> None:
    lines = ok(cli("profiles", "which", "8472")).out.splitlines()
    assert lines[1].startswith("cni-vxlan (--tunnel vxlan)  cilium (cni)")
    assert {line.split()[0] for line in lines[1:]} == {"cni-vxlan", "trust-nodes-tcp", "trust-nodes-udp"}


def test_profiles_which_port_no_profile_opens_exits_1(cli: Cli, tmp_path: Path) -> None:
    # trust-nodes opens every port: replace it with an add-on of one port.
    write_profile(tmp_path, "trust-nodes", addon_text())
    result = cli("profiles", "which", "12345/tcp", "--profiles-dir", str(tmp_path))
    assert error_message(result, code=1) == "no profile opens 12345/tcp"
    assert ok(cli("profiles", "which", "5514/udp", "--profiles-dir", str(tmp_path))).out.count("syslog-ingress") == 1


@pytest.mark.parametrize("port", ["abc", "70000/tcp", "53/icmp", "0"])
def test_profiles_which_bad_port_is_exit_3(cli: Cli, port: str) -> None:
    message = error_message(cli("profiles", "which", port))
    assert message == f"port {port!r} is not PORT/tcp, PORT/udp or PORT, with PORT 1-65535 (e.g. 9962/tcp)"
