"""Start-up: shell completion, --help and --version answer without importing pydantic or ruamel.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from talospatch.cli.app import COMMANDS, app

# Modules every command shares: the app itself and gen's option table.
SHARED = {"app", "params"}

PROBE = """
import sys
from pathlib import Path
from talospatch.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in ("pydantic", "ruamel.yaml") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
loaded = sorted(m.rpartition(".")[2] for m in sys.modules if m.startswith("talospatch.cli."))
sys.stderr.write("LOADED=" + ",".join(loaded) + "\\n")
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
    # typer detects the shell from the parent processes unless told not to; then it takes
    # the shell named after the option, whatever runs the tests.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "talospatch", "--show-completion", "bash"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0
    assert "_talospatch_completion()" in result.stdout


HELP = (
    [["--help"], ["--version"]]
    + [[command, "--help"] for command in COMMANDS]
    + [["profiles", sub, "--help"] for sub in ("list", "show", "which")]
)


@pytest.mark.parametrize("args", [" ".join(a).split() for a in HELP], ids=" ".join)
def test_help_does_not_import_heavy_libraries(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert "Usage" in result.stdout or "talospatch" in result.stdout
    assert "HEAVY=\n" in result.stderr


def test_probe_sees_heavy_imports_when_generating() -> None:
    # The control for the tests above: the probe does see the imports a real run makes.
    args = ["gen", "--role", "worker", "--subnet", "192.168.30.0/24"]
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert "HEAVY=ruamel.yaml\n" in result.stderr


def test_gen_builds_no_pydantic_model() -> None:
    # Building model classes costs more than the rest of gen's start-up: the documents and
    # profiles gen reads are dataclasses, and only build's cluster spec is a pydantic model.
    args = ["gen", "--role", "controlplane", "--subnet", "192.168.30.0/24", "--with", "hubble"]
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert "HEAVY=ruamel.yaml\n" in result.stderr
    build = ["build", "--check", str(Path(__file__).parents[1] / "talospatch.yaml")]
    result = subprocess.run([sys.executable, "-c", PROBE, *build], capture_output=True, text=True)
    assert "HEAVY=pydantic,ruamel.yaml\n" in result.stderr


def _loaded(stderr: str) -> set[str]:
    line = next(line for line in stderr.splitlines() if line.startswith("LOADED="))
    return set(filter(None, line.removeprefix("LOADED=").split(",")))


@pytest.mark.parametrize("args", [["--help"], ["--version"]], ids=" ".join)
def test_root_help_imports_no_command(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    assert _loaded(result.stderr) <= SHARED - {"params"}
    for name, command in COMMANDS.items():
        if args == ["--help"]:
            assert f"  {name}" in result.stdout
            assert command.summary in result.stdout


def test_completing_command_names_imports_no_command() -> None:
    env = {**os.environ, "_TALOSPATCH_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "talospatch e"}
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert '"explain":"Show, per rule' in result.stdout
    assert '"export":' in result.stdout
    assert _loaded(result.stderr) <= SHARED - {"params"}


@pytest.mark.parametrize("name", COMMANDS)
def test_a_command_imports_its_own_module_only(name: str) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, name, "--help"], capture_output=True, text=True)
    loaded = _loaded(result.stderr)
    assert COMMANDS[name].module in loaded
    # Other commands' modules stay unloaded; shared helpers (node, formats) may load.
    assert not (loaded - SHARED - {COMMANDS[name].module}) & {c.module for c in COMMANDS.values()}


@pytest.mark.parametrize("name", COMMANDS)
def test_every_listed_command_loads_under_its_name(name: str) -> None:
    import typer

    root = typer.main.get_command(app)
    context = typer.Context(root)
    command = root.get_command(context, name)  # type: ignore[attr-defined]
    assert command is not None
    assert command.name == name
    assert command.short_help == COMMANDS[name].summary
    assert root.list_commands(context) == list(COMMANDS)  # type: ignore[attr-defined]


def test_a_mistyped_command_gets_a_suggestion_without_loading_commands() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, "gem"], capture_output=True, text=True)
    assert "No such command 'gem'. Did you mean 'gen'?" in result.stderr
    assert _loaded(result.stderr) <= SHARED - {"params"}
    # A usage error: exit 2, the message on stderr, nothing on stdout.
    result = subprocess.run([sys.executable, "-m", "talospatch", "gem"], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.rstrip().endswith("Error: No such command 'gem'. Did you mean 'gen'?")
