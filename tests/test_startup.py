"""Start-up: shell completion, --help and --version answer without importing pydantic or ruamel.yaml."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        pytest.param("talospatch ge", "1", "gen", id="command"),
        pytest.param("talospatch gen --ro", "2", "--role", id="option"),
        pytest.param("talospatch profiles ", "2", "show", id="subcommand"),
    ],
)
def test_completion_answers_without_heavy_imports(words: str, cword: str, expected: str) -> None:
    env = {**os.environ, "_TALOSPATCH_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert expected in result.stdout.split()
    assert "HEAVY=\n" in result.stderr


def test_show_completion_prints_a_bash_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "talospatch", "--show-completion", "bash"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "_talospatch_completion()" in result.stdout


HELP = [["--help"], ["--version"], ["profiles", "--help"]] + [
    [command, "--help"]
    for command in (
        "gen",
        "explain",
        "nft",
        "query",
        "verify",
        "audit",
        "profiles list",
        "profiles show",
        "profiles which",
    )
]


@pytest.mark.parametrize("args", [" ".join(a).split() for a in HELP], ids=" ".join)
def test_help_does_not_import_heavy_libraries(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert "Usage" in result.stdout or "talospatch" in result.stdout
    assert "HEAVY=\n" in result.stderr


def test_probe_sees_heavy_imports_when_generating() -> None:
    # The control for the tests above: the probe does see the imports a real run makes.
    args = ["gen", "--role", "worker", "--subnet", "192.168.30.0/24"]
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert "HEAVY=pydantic,ruamel.yaml\n" in result.stderr
