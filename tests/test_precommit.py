"""``.pre-commit-hooks.yaml`` is a valid pre-commit manifest, and its build hook runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from pre_commit import clientlib  # type: ignore[import-untyped]

from testing.runner import ok, run

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / ".pre-commit-hooks.yaml"


def _hooks() -> dict[str, dict[str, object]]:
    return {hook["id"]: hook for hook in clientlib.load_manifest(str(MANIFEST))}


def test_manifest_loads_with_pre_commits_loader() -> None:
    hooks = _hooks()
    assert sorted(hooks) == ["talospatch-build-check", "talospatch-check"]
    assert hooks["talospatch-build-check"]["entry"] == "talospatch build --check"
    assert hooks["talospatch-build-check"]["pass_filenames"] is False
    assert hooks["talospatch-check"]["entry"] == "talospatch check"
    assert all(hook["language"] == "python" for hook in hooks.values())


def test_manifest_loader_rejects_a_broken_manifest(tmp_path: Path) -> None:
    """The check above can fail: the loader rejects a hook without an entry."""
    broken = tmp_path / ".pre-commit-hooks.yaml"
    broken.write_text("- id: x\n  name: x\n  language: python\n", encoding="utf-8")
    with pytest.raises(clientlib.InvalidManifestError):
        clientlib.load_manifest(str(broken))


@pytest.mark.parametrize(
    ("path", "matched"),
    [
        ("talospatch.yaml", True),
        ("clusters/prod/talospatch.yaml", True),
        ("profiles/spegel.yaml", True),
        ("out/worker.yaml", True),
        ("README.md", False),
        ("talospatch/schemas/talospatch.schema.json", False),
    ],
)
def test_build_hook_runs_for_the_files_that_decide(path: str, matched: bool) -> None:
    files = str(_hooks()["talospatch-build-check"]["files"])
    assert bool(re.search(files, path)) == matched


def test_build_hook_entry_passes_on_this_repository(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    words = shlex.split(str(_hooks()["talospatch-build-check"]["entry"]))
    assert words[0] == "talospatch"
    assert ok(run(capsys, *words[1:])).out == ""


def test_check_hook_takes_ignore_as_args(capsys: pytest.CaptureFixture[str]) -> None:
    """A .pre-commit-config.yaml's ``args: [--ignore, CODE]`` go between the entry and the files."""
    redundant = str(ROOT / "tests/fixtures/check/redundant.yaml")
    words = shlex.split(str(_hooks()["talospatch-check"]["entry"]))
    assert run(capsys, *words[1:], redundant).code == 1
    assert ok(run(capsys, *words[1:], "--ignore", "redundant", redundant)).out == ""
