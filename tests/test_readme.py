"""The README stays true: its commands run, and CI runs its test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
LINES = [line for block in SH_BLOCKS for line in block.splitlines() if line.strip()]
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
INSTALL_AND_RUN = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/talospatch gen"


def test_readme_shows_the_two_setup_commands() -> None:
    assert TEST_COMMAND in LINES
    assert any(line.startswith(INSTALL_AND_RUN) for line in LINES)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert TEST_COMMAND in ci


def _talospatch_commands() -> list[str]:
    commands = []
    for line in LINES:
        if line.startswith(INSTALL_AND_RUN):
            line = line.split(" && ")[-1].removeprefix(".venv/bin/")
        if line.startswith("talospatch "):
            # Run our half of a pipe into talosctl; talosctl itself needs a cluster.
            commands.append(line.split(" | talosctl ")[0])
    return commands


COMMANDS = _talospatch_commands()


def test_readme_has_commands_to_run() -> None:
    assert len(COMMANDS) >= 8


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs(command: str, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "out", tmp_path / "out")
    shutil.copy(ROOT / "talospatch.yaml", tmp_path / "talospatch.yaml")
    shutil.copytree(ROOT / "tests" / "fixtures", tmp_path / "tests" / "fixtures")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    # query exits 1 when it answers "dropped", verify when the node differs, diff when traffic
    # changes, as the README's exit-code table says.
    allowed_codes = (0, 1) if command.startswith(("talospatch query", "talospatch verify", "talospatch diff")) else (0,)
    assert result.returncode in allowed_codes, result.stderr
    assert "Traceback" not in result.stderr
    # Only what writes files, check (silent when clean) and verify (silent when equal) may
    # print nothing.
    writes = any(word in command for word in ("-o ", " > ", "--output-dir "))
    assert result.stdout or writes or command.startswith(("talospatch check", "talospatch verify"))
