"""``build`` writes a spec's ``exports`` beside the Talos patches; ``build --check`` compares them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from testing.cluster import REFERENCE_SPEC
from testing.runner import error_message, ok, run

SPEC = (
    REFERENCE_SPEC
    + """\
exports:
  - target: aws-terraform
    output: out/aws
  - target: proxmox
    output: out/proxmox
  - target: opnsense
    output: routers/opnsense
    clusterInterface: opt2
"""
)
FILES = [
    "out/aws/talos-security-groups.tf",
    "out/controlplane.yaml",
    "out/proxmox/cluster.fw",
    "out/proxmox/controlplane.fw",
    "out/proxmox/worker.fw",
    "out/worker.yaml",
    "routers/opnsense/opnsense-aliases.json",
    "routers/opnsense/opnsense-not-enforced.txt",
    "routers/opnsense/opnsense-rules.csv",
]


def write_spec(folder: Path, text: str = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "talospatch.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "talospatch.yaml")


def test_build_writes_every_export_into_its_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    result = ok(run(capsys, "build", str(spec)))
    assert files(tmp_path) == FILES
    assert f"{tmp_path}/out/aws/talos-security-groups.tf: written" in result.out_lines
    assert f"{tmp_path}/routers/opnsense/opnsense-rules.csv: written" in result.out_lines
    export = ok(run(capsys, "export", "aws-terraform", "--spec", str(spec)))
    assert (tmp_path / "out/aws/talos-security-groups.tf").read_text(encoding="utf-8") == export.out
    assert "<interface>" not in (tmp_path / "routers/opnsense/opnsense-rules.csv").read_text(encoding="utf-8")
    assert ",opt2," in (tmp_path / "routers/opnsense/opnsense-rules.csv").read_text(encoding="utf-8")
    # The routed target's own warnings reach the user, named by the spec and the entry; gen's are not repeated.
    assert (
        f"{spec}: exports[2] (opnsense): no workers: rules towards workers name the whole node subnet, control planes included"
        in result.warnings
    )
    assert not any("exports[0]" in w or "exports[1]" in w for w in result.warnings)
    again = ok(run(capsys, "build", str(spec)))
    assert all(line.endswith(": unchanged") for line in again.out_lines)
    assert len(again.out_lines) == len(FILES)


def test_check_is_clean_after_build_and_flags_missing_stale_and_extra_export_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    result = run(capsys, "build", "--check", str(spec))
    assert result.code == 1
    assert f"{tmp_path}/out/proxmox/cluster.fw: missing" in result.errors
    ok(run(capsys, "build", str(spec)))
    clean = ok(run(capsys, "build", "--check", str(spec)))
    assert clean.out == ""
    assert clean.errors == []

    stale = tmp_path / "out/proxmox/cluster.fw"
    stale.write_text(stale.read_text(encoding="utf-8").replace("196.45.28.20", "196.45.28.21"), encoding="utf-8")
    (tmp_path / "out/aws/talos-security-groups.tf").unlink()
    extra = tmp_path / "routers/opnsense/old-rules.csv"
    extra.write_text("x\n", encoding="utf-8")
    result = run(capsys, "build", "--check", str(spec))
    assert result.code == 1
    assert result.errors == [
        f"{tmp_path}/out/aws/talos-security-groups.tf: missing",
        f"{stale}: stale",
        f"{extra}: extra: exports[2] (opnsense) of {spec} does not produce it",
        "run talospatch build and commit the result",
    ]
    assert f"{stale}: stale; exports[1] (proxmox) of {spec} builds it" in result.out_lines
    assert f"--- {stale} (on disk)" in result.out_lines
    assert f"+++ {stale} (built)" in result.out_lines
    assert "-196.45.28.21" in result.out_lines
    assert "+196.45.28.20" in result.out_lines
    assert "--- /dev/null" in result.out_lines
    assert f"+++ {tmp_path}/out/aws/talos-security-groups.tf (built)" in result.out_lines

    # build rewrites the stale and missing files and warns about the extra one, which it keeps.
    rebuilt = ok(run(capsys, "build", str(spec)))
    assert f"{stale}: updated" in rebuilt.out_lines
    assert f"{tmp_path}/out/aws/talos-security-groups.tf: written" in rebuilt.out_lines
    assert any(w.startswith(f"{extra}: exports[2] (opnsense) of {spec} does not produce it") for w in rebuilt.warnings)
    assert extra.exists()
    extra.unlink()
    ok(run(capsys, "build", "--check", str(spec)))


def test_an_export_folder_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    (tmp_path / "routers").mkdir()
    (tmp_path / "routers/opnsense").write_text("", encoding="utf-8")
    message = error_message(run(capsys, "build", str(spec)))
    assert message == f"{spec}:13: exports[2].output: {tmp_path}/routers/opnsense is not a folder"


def test_a_bad_exports_entry_fails_the_build_with_its_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = write_spec(tmp_path, SPEC + "    mergeInto: config.xml\n")
    message = error_message(run(capsys, "build", str(spec)))
    assert message.startswith(f"{spec}:15: exports[2].mergeInto: a build writes the pfSense sections whole")
    assert not (tmp_path / "out").exists()


def test_nothing_is_written_when_an_export_fails(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An export's error stops the build before the first file, patches included."""
    spec = write_spec(tmp_path, SPEC + "    ntpServers: [fd00::123]\n")
    message = error_message(run(capsys, "build", str(spec)))
    assert message.startswith(f"{spec}:")
    assert "exports[2]" in message
    assert files(tmp_path) == []
