"""The built wheel carries the profiles: it works installed alone, from any directory."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_profiles_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(dist)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("talospatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.removeprefix("talospatch/profiles/") for n in names if n.startswith("talospatch/profiles/"))
    assert shipped == sorted(p.name for p in (ROOT / "profiles").glob("*.yaml"))

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import talospatch; "
        "assert talospatch.__file__.startswith(sys.argv[1]), talospatch.__file__; "
        "from talospatch.cli import main; main(sys.argv[2:])"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            script,
            str(site),
            "gen",
            "--role",
            "worker",
            "--subnet",
            "192.168.30.0/24",
            "--cni",
            "flannel",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "name: cni-vxlan" in run.stdout
    assert "- 4789" in run.stdout
