"""The README stays true: it shows the two set-up commands CI runs, and its exit-code table.

Its commands (and those of docs/) are run by tests/test_docs.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from talospatch import errors
from testing.runner import Cli

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


def test_readme_stays_short() -> None:
    """The reference lives in docs/; the README is the way in."""
    assert len(README.splitlines()) <= 150


def _exit_codes() -> dict[int, str]:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d) \| (.*) \|$", section, flags=re.M)}


def test_exit_code_table_has_every_code() -> None:
    assert sorted(_exit_codes()) == [0, 1, 2, 3, 4]


def test_exit_code_table_names_the_error_classes_codes() -> None:
    table = _exit_codes()
    assert "a check found a problem" in table[errors.CheckFailed.exit_code]
    assert "bad input" in table[errors.BadInput.exit_code]
    assert "internal error" in table[errors.TalospatchError.exit_code]


WORKER = ["gen", "--role", "worker", "--subnet", "192.168.30.0/24"]
CONTROLPLANE = str(ROOT / "out" / "controlplane.yaml")


# Row 4 (a bug) needs a broken function to happen: tests/cli/test_main.py patches one in.
@pytest.mark.parametrize(
    ("code", "args"),
    [
        pytest.param(0, WORKER, id="0-success"),
        pytest.param(1, ["query", CONTROLPLANE, "--from", "203.0.113.9", "--port", "50000/tcp"], id="1-dropped"),
        pytest.param(2, [*WORKER, "--no-such-option"], id="2-usage"),
        pytest.param(3, ["gen", "--role", "worker", "--subnet", "192.168.30.0/33"], id="3-bad-input"),
    ],
)
def test_exit_code_table_row(cli: Cli, code: int, args: list[str]) -> None:
    assert code in _exit_codes()
    result = cli(*args)
    assert result.code == code, result.err
    assert "Traceback" not in result.err
    if code == 3:
        assert result.out == ""
        assert len(result.err_lines) == 1
