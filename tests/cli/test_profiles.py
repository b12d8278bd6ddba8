"""``talospatch profiles list|show``."""

from __future__ import annotations

from testing.documents import builtin_profiles
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
