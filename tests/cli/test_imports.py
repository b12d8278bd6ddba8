"""The package uses typer's public API only: no typer private module, no click.

typer vendors click from 0.26 on (``typer._click``) and documents only its own names; click
is no dependency of ours. A module that reaches into ``typer._click`` or another private
typer module, or imports click, breaks on a typer release without notice: this test reads
every module of the package and names each such import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import talospatch

PACKAGE = Path(talospatch.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def _private(module: str) -> bool:
    """A module of typer's under a ``_`` name, or click (third-party or not)."""
    parts = module.split(".")
    return parts[0] == "click" or (parts[0] == "typer" and any(part.startswith("_") for part in parts[1:]))


def private_uses(source: str) -> list[str]:
    """``line: module`` for every import of, or attribute reached into, a private module."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if _private(node.module) else [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            names = [f"{node.value.id}.{node.attr}"] if node.value.id == "typer" else []
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            # importlib.import_module("typer._click...") and __import__ alike
            function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if function in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        found += [f"{getattr(node, 'lineno', 0)}: {name}" for name in names if _private(name)]
    return sorted(set(found), key=lambda line: int(line.split(":")[0]))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_module_uses_no_private_typer_module_nor_click(path: Path) -> None:
    assert private_uses(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("from typer._click.core import Context", ["1: typer._click.core"], id="from-private"),
        pytest.param("import typer._click.exceptions", ["1: typer._click.exceptions"], id="import-private"),
        pytest.param("from typer import _click", ["1: typer._click"], id="from-typer-import-private"),
        pytest.param("import typer\nx = typer._completion_shared", ["2: typer._completion_shared"], id="attribute"),
        pytest.param("import click", ["1: click"], id="click"),
        pytest.param("from click.core import Group", ["1: click.core"], id="from-click"),
        pytest.param("import importlib\nimportlib.import_module('typer._click')", ["2: typer._click"], id="dynamic"),
        pytest.param("import typer\nfrom typer.core import TyperGroup\ntyper.main.get_command", [], id="public"),
    ],
)
def test_the_reader_names_what_it_should(source: str, expected: list[str]) -> None:
    # The control: the reader above finds each kind of private use, and passes typer's own names.
    assert private_uses(source) == expected


def test_importing_every_module_loads_no_click() -> None:
    # At run time too: no module of the package pulls in a third-party click.
    names = [
        ".".join(("talospatch", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for p in MODULES
        if p.name != "__main__.py"
    ]
    probe = "import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)\nprint('click' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe, *names], capture_output=True, text=True, env={**os.environ}, check=True
    )
    assert result.stdout.strip() == "False"
