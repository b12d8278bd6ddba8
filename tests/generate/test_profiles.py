"""Profile files (``talospatch.generate.profiles``): errors name the file and entry; custom profiles add to or replace the built-in ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.cluster import SUBNET, WORKER
from testing.documents import addon_text, rule_docs, write_profile
from testing.runner import Cli, error_message, ok


def test_profile_bad_yaml_names_file_and_line(cli: Cli, tmp_path: Path) -> None:
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
    message = error_message(cli("gen", *WORKER, "--profiles-dir", str(tmp_path / "p")))
    assert message.startswith(f"{path}: line 5: invalid YAML")


def test_profile_duplicate_key_names_file_and_line(cli: Cli, tmp_path: Path) -> None:
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
    message = error_message(cli("gen", *WORKER, "--profiles-dir", str(tmp_path / "p")))
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
        (
            "kind: addon\ndescription: d\nrules:\n  - name: r1\n    service: s\n"
            "    ports: [1]\n    protocol: tcp\n    from: [nodes]\n    source: s\n"
        ),
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
def test_profile_file_errors_name_file_and_entry(cli: Cli, tmp_path: Path, text: str, fragments: list[str]) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    path = folder / "custom.yaml"
    path.write_text(text, encoding="utf-8")
    message = error_message(cli("gen", *WORKER, "--profiles-dir", str(folder), "--with", "custom"))
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message.removeprefix(f"{path}: ")


def test_profile_file_errors_also_from_profiles_list(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(tmp_path / "p", "custom", addon_text(ports="[70000]"))
    message = error_message(cli("profiles", "list", "--profiles-dir", str(tmp_path / "p")))
    assert message.startswith(f"{path}: rule syslog-ingress: ports")


def test_rule_name_clash_with_builtin_role_names_file_and_rule(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    write_profile(folder, "clash", addon_text(name="kubelet-ingress", ports="[8080]", protocol="tcp"))
    message = error_message(cli("gen", *WORKER, "--profiles-dir", str(folder), "--with", "clash"))
    assert "kubelet-ingress" in message
    assert "worker" in message
    # The file that brings the clash is named, as for every other profile-file error.
    assert "clash.yaml" in message


def test_rule_name_clash_is_fine_when_not_selected(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    write_profile(folder, "clash", addon_text(name="kubelet-ingress", ports="[8080]", protocol="tcp"))
    result = ok(cli("gen", *WORKER, "--profiles-dir", str(folder)))
    assert [d["name"] for d in rule_docs(result.out)].count("kubelet-ingress") == 1


def test_custom_addon_is_selectable_and_rendered(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    write_profile(folder, "syslog", addon_text())
    result = ok(cli("gen", *WORKER, "--profiles-dir", str(folder), "--with", "syslog"))
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

    listed = ok(cli("profiles", "list", "--profiles-dir", str(folder)))
    assert any(line.split()[:2] == ["syslog", "addon"] for line in listed.out.splitlines())


def test_custom_file_replaces_builtin_of_same_name(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    path = write_profile(folder, "hubble", addon_text(name="hubble-ingress", ports="[4245]", protocol="tcp"))
    builtin = ok(cli("gen", *WORKER, "--with", "hubble"))
    custom = ok(cli("gen", *WORKER, "--with", "hubble", "--profiles-dir", str(folder)))
    assert {d["name"]: d for d in rule_docs(builtin.out)}["hubble-ingress"]["portSelector"]["ports"] == [4244]
    hubble = [d for d in rule_docs(custom.out) if d["name"].startswith("hubble")]
    assert [(d["name"], d["portSelector"]["ports"]) for d in hubble] == [("hubble-ingress", [4245])]

    shown = ok(cli("profiles", "show", "hubble", "--profiles-dir", str(folder)))
    assert shown.out.splitlines()[0].startswith(f"hubble (addon, {path}): a test add-on")
    listed = ok(cli("profiles", "list", "--profiles-dir", str(folder)))
    assert [line.split()[0] for line in listed.out.splitlines()].count("hubble") == 1


def test_custom_role_replaces_builtin_role(cli: Cli, tmp_path: Path) -> None:
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
    result = ok(cli("gen", *WORKER, "--cni", "none", "--profiles-dir", str(folder)))
    assert [d["name"] for d in rule_docs(result.out)] == ["apid-ingress"]


def test_rule_schema_accepts_every_built_in_rule_and_rejects_what_the_checker_rejects() -> None:
    import jsonschema  # type: ignore[import-untyped]

    from talospatch.generate.profiles import RULE_SCHEMA
    from talospatch.yamlio import load_one

    validator = jsonschema.Draft202012Validator(RULE_SCHEMA)
    files = sorted((Path(__file__).parents[2] / "profiles").glob("*.yaml"))
    assert len(files) > 10
    for file in files:
        for entry in load_one(file.read_text(encoding="utf-8"), str(file)).get("rules") or []:
            assert not list(validator.iter_errors(entry)), (file, entry["name"])
    good = {"name": "r", "service": "s", "ports": [80], "protocol": "tcp", "from": ["nodes"], "why": "w", "source": "x"}
    for bad in ({"ports": [70000]}, {"protocol": "sctp"}, {"from": ["everyone"]}, {"why": ""}, {"colour": "red"}):
        assert list(validator.iter_errors({**good, **bad})), bad
