"""``check``, ``diff`` and ``explain --help`` start without pydantic or ruamel.yaml."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from talospatch.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in ("pydantic", "ruamel.yaml") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


@pytest.mark.parametrize("command", ["check", "diff", "explain"])
def test_help_does_not_import_heavy_libraries(command: str) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, command, "--help"], capture_output=True, text=True)
    assert f"Usage: talospatch {command}" in " ".join(result.stdout.split())
    assert "HEAVY=\n" in result.stderr


def test_the_probe_sees_heavy_imports() -> None:
    """The probe itself works: running check on a file loads the YAML and document libraries."""
    result = subprocess.run([sys.executable, "-c", PROBE, "check", "-"], input="", capture_output=True, text=True)
    assert "HEAVY=pydantic,ruamel.yaml\n" in result.stderr
