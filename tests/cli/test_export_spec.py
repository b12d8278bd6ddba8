"""``talospatch export TARGET [--spec FILE]``: the cluster from a spec when no cluster option is given."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from testing.cluster import ADMIN, CONTROLPLANES, SUBNET
from testing.runner import Cli, error_message, ok

SPEC = """\
cni: cilium
tunnel: geneve
subnets: [192.168.30.0/24]
controlplane: [192.168.30.11, 192.168.30.12, 192.168.30.13]
admins: [196.45.28.20/32]
from: [196.45.28.20]
"""
OPTIONS = [
    "--subnet",
    SUBNET,
    "--tunnel",
    "geneve",
    *(word for address in CONTROLPLANES for word in ("--controlplane", address)),
    "--admin",
    f"{ADMIN}/32",
]


def write_spec(folder: Path, text: str = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "talospatch.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def without_header(text: str) -> str:
    """The file without the lines naming the command that builds the Talos patches (gen or build)."""
    return "".join(
        line
        for line in text.splitlines(keepends=True)
        if "talospatch gen " not in line and "talospatch build " not in line
    )


def test_export_reads_talospatch_yaml_in_the_current_folder(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_spec(tmp_path)
    monkeypatch.chdir(tmp_path)
    from_spec = ok(cli("export", "aws-terraform"))
    from_options = ok(cli("export", "aws-terraform", *OPTIONS))
    assert "#   talospatch build talospatch.yaml (out/worker.yaml)\n" in from_spec.out
    assert without_header(from_spec.out) == without_header(from_options.out)
    assert from_spec.out != from_options.out
    assert from_spec.err == ""


@pytest.mark.parametrize("target", ["proxmox", "pfsense", "opnsense"])
def test_export_spec_into_a_folder_equals_the_options(cli: Cli, tmp_path: Path, target: str) -> None:
    spec = write_spec(tmp_path / "cluster")
    a = ok(cli("export", target, "--spec", str(spec), "--output-dir", str(tmp_path / "a")))
    b = ok(cli("export", target, *OPTIONS, "--output-dir", str(tmp_path / "b")))
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        first = (tmp_path / "a" / name).read_text(encoding="utf-8")
        second = (tmp_path / "b" / name).read_text(encoding="utf-8")
        assert without_header(first) == without_header(second), name
    # Warnings name the spec and its keys, not gen's flags.
    assert [w.replace(f"{spec}: ", "", 1) for w in a.warnings] == [
        w.replace("--workers", "workers") for w in b.warnings
    ]
    assert all(w.startswith(f"{spec}: ") for w in a.warnings)


def test_pfsense_merge_into_takes_the_spec_too(cli: Cli, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    backup = tmp_path / "config.xml"
    backup.write_text(
        '<?xml version="1.0"?>\n<pfsense>\n\t<filter>\n\t</filter>\n\t<aliases>\n\t</aliases>\n</pfsense>\n',
        encoding="utf-8",
    )
    result = ok(cli("export", "pfsense", "--spec", str(spec), "--merge-into", str(backup)))
    assert "talospatch_admins" in result.out
    assert "<filter>" in result.out


def test_spec_and_cluster_options_together_are_refused(cli: Cli, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    message = error_message(cli("export", "aws-terraform", "--spec", str(spec), "--subnet", SUBNET))
    assert message == f"give --spec {spec} or the cluster's options (--subnet ...), not both"
    message = error_message(cli("export", "aws-terraform", "--spec", str(spec), "--with", "metallb"))
    assert message == f"give --spec {spec} or the cluster's options (--with ...), not both"


def test_no_spec_and_no_options(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    message = error_message(cli("export", "aws-terraform"))
    assert message == (
        "talospatch.yaml: no such file; give --spec FILE (a cluster spec) or the cluster's options (--subnet CIDR ...)"
    )
    missing = tmp_path / "nope.yaml"
    message = error_message(cli("export", "aws-terraform", "--spec", str(missing)))
    assert message == f"{missing}: no such file (a cluster spec; talospatch init writes one)"


def test_an_error_in_the_spec_names_file_line_and_key(cli: Cli, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "addons: [metallb, hubbel]\n")
    message = error_message(cli("export", "proxmox", "--spec", str(spec), "--output-dir", str(tmp_path / "o")))
    assert message.startswith(f"{spec}:7: addons[1]: unknown add-on 'hubbel'; valid: ")
    assert not (tmp_path / "o").exists()


def test_a_cluster_error_names_the_spec_and_its_keys(cli: Cli, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "roles:\n  controlplane: {}\n  worker:\n    bgpPeers: [192.168.30.1]\n")
    message = error_message(cli("export", "aws-terraform", "--spec", str(spec)))
    assert message.startswith(f"{spec}: ")
    assert "roles.worker.bgpPeers" in message
    assert "--bgp-peer" not in message


def test_per_role_addresses_that_differ_are_refused(cli: Cli, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "roles:\n  controlplane: {}\n  worker:\n    admins: [198.51.100.7]\n")
    message = error_message(cli("export", "aws-terraform", "--spec", str(spec)))
    assert message.startswith(f"{spec}:10: roles.worker.admins: export targets give admins one set of addresses")


def test_router_options_still_apply_to_routed_targets_only(cli: Cli, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    message = error_message(cli("export", "aws-terraform", "--spec", str(spec), "--cluster-interface", "opt2"))
    assert message == "--cluster-interface applies to the pfsense and opnsense targets only"
