"""out/ holds the reference cluster's patches; this fails when they are stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_out_is_up_to_date(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["sh", str(ROOT / "out" / "regenerate.sh"), str(tmp_path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    generated = sorted(p.name for p in tmp_path.glob("*.yaml"))
    committed = sorted(p.name for p in (ROOT / "out").glob("*.yaml"))
    assert generated == committed == ["controlplane.yaml", "worker.yaml"]
    for name in generated:
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        assert (ROOT / "out" / name).read_text(encoding="utf-8") == fresh, (
            f"out/{name} is stale: run `sh out/regenerate.sh` and commit the result"
        )
