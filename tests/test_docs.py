"""The documentation stays true: every shell command in it runs, and every link resolves.

Pages are README.md and docs/*.md. Every line of a ```sh block is a command; each runs alone,
through ``sh -c``, in a fresh directory holding a copy of the reference cluster
(``talospatch.yaml``, ``out/``) and the test fixtures, as it would from the repository's root.
A command that cannot run here is listed in ``SKIPPED_BY_DESIGN`` with the reason, and shows
as skipped; a command of any other kind fails the test until it is run or listed. ```yaml
blocks (pre-commit and CI recipes, which install from git and call gh) are configuration,
not commands.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# The README's two set-up commands (tests/test_readme.py checks they are shown, verbatim).
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest"
INSTALL_AND_RUN = "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/talospatch "

# Commands that cannot run in a test, by the prefix they start with, and why.
SKIPPED_BY_DESIGN = {
    TEST_COMMAND: "the whole test suite, which this test is part of; CI runs it (tests/test_readme.py)",
    "talosctl ": "needs a Talos node or cluster to talk to",
}


def _page_name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _sh_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, command) for every non-blank, non-comment line of the page's sh blocks."""
    lines: list[tuple[int, str]] = []
    in_sh = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            in_sh = not in_sh and line == "```sh"
        elif in_sh and line.strip() and not line.lstrip().startswith("#"):
            lines.append((number, line.strip()))
    return lines


def _to_run(line: str) -> str | None:
    """The part of a documented line this test runs, or None when it is skipped by design."""
    if any(line.startswith(prefix) for prefix in SKIPPED_BY_DESIGN):
        return None
    if line.startswith(INSTALL_AND_RUN):
        # The test environment is the installed virtual environment: run the command it shows.
        line = line.split(" && ")[-1].removeprefix(".venv/bin/")
    # Run our half of a pipe into talosctl; talosctl itself needs a cluster.
    return line.split(" | talosctl ")[0]


def _params() -> list[Any]:
    params = []
    for page in PAGES:
        for number, line in _sh_lines(page):
            marks = []
            reason = next((why for prefix, why in SKIPPED_BY_DESIGN.items() if line.startswith(prefix)), None)
            if reason is not None:
                marks.append(pytest.mark.skip(reason=f"skipped by design: {reason}"))
            params.append(pytest.param(line, marks=marks, id=f"{_page_name(page)}:{number}"))
    return params


COMMANDS = _params()


def test_every_page_is_read() -> None:
    """README.md and every page under docs/ are read, and they hold commands to run."""
    assert {_page_name(p) for p in PAGES} >= {"README.md", "docs/gen.md", "docs/review.md"}
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize("line", COMMANDS)
def test_documented_command_runs(line: str, tmp_path: Path) -> None:
    command = _to_run(line)
    assert command is not None
    assert command.startswith("talospatch "), f"run this command here or list it in SKIPPED_BY_DESIGN: {line}"
    shutil.copytree(ROOT / "out", tmp_path / "out")
    shutil.copy(ROOT / "talospatch.yaml", tmp_path / "talospatch.yaml")
    shutil.copytree(ROOT / "tests" / "fixtures", tmp_path / "tests" / "fixtures")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["sh", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    # query exits 1 when it answers "dropped", verify when the node differs, diff when traffic
    # changes, as the README's exit-code table says.
    answers = ("talospatch query", "talospatch verify", "talospatch diff")
    allowed_codes = (0, 1) if command.startswith(answers) else (0,)
    assert result.returncode in allowed_codes, result.stderr
    assert "Traceback" not in result.stderr
    # Only what writes files, check (silent when clean), verify (silent when equal) and
    # build --check (silent when up to date) may print nothing.
    writes = any(word in command for word in ("-o ", " > ", "--output-dir "))
    silent = ("talospatch check", "talospatch verify", "talospatch build --check")
    assert result.stdout or writes or command.startswith(silent)


def test_no_page_installs_from_the_package_index() -> None:
    """talospatch is not published on the Python package index: recipes install it from git."""
    bare = re.compile(r"pip install (-U |--upgrade )?['\"]?talospatch(?![ ]*@)")
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            assert not bare.search(line), f"{_page_name(page)}:{number}: {line}"


def test_the_bare_install_pattern_catches_a_bare_install() -> None:
    bare = re.compile(r"pip install (-U |--upgrade )?['\"]?talospatch(?![ ]*@)")
    assert bare.search("      - run: pip install talospatch")
    assert not bare.search('      - run: pip install "talospatch @ git+https://github.com/OWNER/talospatch@vX.Y.Z"')


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors = set()
    in_code = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def test_slug_matches_githubs_anchors() -> None:
    assert (
        _slug(" A cluster in git: `talospatch.yaml`, `init`, `build`") == "a-cluster-in-git-talospatchyaml-init-build"
    )
    assert _slug(" Fewer rules on the node: --compact") == "fewer-rules-on-the-node---compact"


@pytest.mark.parametrize("page", PAGES, ids=_page_name)
def test_relative_links_resolve(page: Path) -> None:
    links = _links(page)
    assert links or page.name == "performance.md", "every page links to its neighbours"
    for target in links:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_file(), f"{_page_name(page)}: {target} does not exist"
        if anchor:
            assert anchor in _anchors(linked), f"{_page_name(page)}: {target}: no heading #{anchor}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"({_page_name(page)})" in readme, f"README.md does not link {_page_name(page)}"


def _command_names() -> list[str]:
    """Every command of the CLI's table, and the subcommands of a group (``profiles list``)."""
    import importlib

    import typer
    from typer.core import TyperGroup

    from talospatch.cli.app import COMMANDS as TABLE

    names = []
    for name, entry in TABLE.items():
        names.append(name)
        command = typer.main.get_command(importlib.import_module(f"talospatch.cli.{entry.module}").app)
        if isinstance(command, TyperGroup):
            names += [f"{name} {sub}" for sub in command.commands]
    return names


def documented(command: str, pages: list[Path] = PAGES) -> list[str]:
    """The pages that show ``talospatch COMMAND`` (then a space, a backtick or the line's end)."""
    shown = re.compile(rf"\btalospatch {re.escape(command)}(?=[\s`]|$)", flags=re.M)
    return [_page_name(page) for page in pages if shown.search(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("command", _command_names())
def test_every_command_is_documented(command: str) -> None:
    assert documented(command), f"no page of README.md or docs/*.md shows `talospatch {command}`"


def test_documented_needs_the_whole_command_name() -> None:
    # The control: a name no page shows, and a prefix of a shown one, are not documented.
    assert documented("gen")
    assert documented("profiles which")
    assert documented("frobnicate") == []
    assert documented("profile") == []
    assert documented("ge") == []
