"""out/ holds the reference cluster's patches, built from talospatch.yaml; this fails when they are stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from testing.runner import ok, run

ROOT = Path(__file__).resolve().parents[2]


def test_out_is_built_from_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    result = run(capsys, "build", "--check", str(ROOT / "talospatch.yaml"))
    assert result.code == 0, f"out/ is stale: run `talospatch build` and commit the result\n{result.out}{result.err}"
    assert result.out == ""
    assert sorted(p.name for p in (ROOT / "out").glob("*.yaml")) == ["controlplane.yaml", "worker.yaml"]


def test_the_check_fails_on_a_stale_copy(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The check above can fail: a copy of the repository with one edited rule is stale."""
    shutil.copy(ROOT / "talospatch.yaml", tmp_path / "talospatch.yaml")
    shutil.copytree(ROOT / "out", tmp_path / "out")
    ok(run(capsys, "build", "--check", str(tmp_path / "talospatch.yaml")))
    worker = tmp_path / "out" / "worker.yaml"
    worker.write_text(worker.read_text(encoding="utf-8").replace("196.45.28.20/32", "196.45.28.0/24"), encoding="utf-8")
    result = run(capsys, "build", "--check", str(tmp_path / "talospatch.yaml"))
    assert result.code == 1
    assert f"{worker}: stale" in result.errors
