"""The command line as a whole: usage errors, --version, --help, internal errors and interrupts (``talospatch.cli.main``)."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import pytest

import talospatch
from testing.cluster import SUBNET, WORKER
from testing.runner import Cli, ok, run


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["gen", *WORKER, "--bogus"], "No such option: --bogus", id="gen-unknown-option"),
        pytest.param(["explain", *WORKER, "--bogus"], "No such option: --bogus", id="explain-unknown-option"),
        pytest.param(["gen", "--subnet", SUBNET], "Missing option '--role'", id="gen-missing-role"),
        pytest.param(["explain", "--subnet", SUBNET], "Missing option '--role'", id="explain-missing-role"),
        pytest.param(["gen", "--role"], "'--role' requires an argument", id="role-without-value"),
        pytest.param(["frobnicate"], "No such command 'frobnicate'", id="unknown-command"),
        pytest.param(["profiles", "show"], "Missing argument", id="profiles-show-without-name"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: list[str], fragment: str) -> None:
    result = cli(*args)
    assert result.code == 2
    assert result.out == ""
    assert "Traceback" not in result.err
    assert "Error: " in result.err
    assert fragment in result.err


def test_version(cli: Cli) -> None:
    result = ok(cli("--version"))
    assert result.out == f"talospatch {talospatch.__version__}\n"
    assert re.fullmatch(r"talospatch \d+\.\d+\.\d+\S*\n", result.out)
    assert result.err == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["--help"], ["Usage: talospatch", "gen", "explain", "profiles", "--version"], id="root-long"),
        pytest.param(["-h"], ["Usage: talospatch", "gen", "explain", "profiles"], id="root-short"),
        pytest.param(
            ["gen", "--help"], ["Usage: talospatch gen", "--role", "--subnet", "--with", "--output"], id="gen"
        ),
        pytest.param(["explain", "--help"], ["Usage: talospatch explain", "--role", "--subnet"], id="explain"),
        pytest.param(["profiles", "--help"], ["Usage: talospatch profiles", "list", "show"], id="profiles"),
    ],
)
def test_help_exits_0(cli: Cli, args: list[str], fragments: list[str]) -> None:
    result = ok(cli(*args))
    assert result.err == ""
    for fragment in fragments:
        assert fragment in result.out


def test_unexpected_exception_is_exit_4_with_traceback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import talospatch.workflows.patch

    def boom(*args: object) -> str:
        raise RuntimeError("boom in render")

    monkeypatch.setattr(talospatch.workflows.patch, "render", boom)
    target = tmp_path / "patch.yaml"
    target.write_bytes(b"old\n")
    for extra in ([], ["-o", str(target)]):
        result = cli("gen", *WORKER, *extra)
        assert result.code == 4
        assert result.out == ""
        assert "Traceback (most recent call last)" in result.err
        assert "RuntimeError: boom in render" in result.err
        assert result.err_lines[-1] == "talospatch: internal error; please report this as a bug"
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch.yaml"]


def test_internal_talospatch_error_is_exit_4_with_message(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import talospatch.talos.documents
    import talospatch.workflows.patch

    monkeypatch.setattr(
        talospatch.workflows.patch, "apply_patches", lambda patches: talospatch.talos.documents.Firewall("block", ())
    )
    result = cli("gen", *WORKER)
    assert result.code == 4
    assert result.out == ""
    assert "Traceback (most recent call last)" in result.err
    assert result.err_lines[-1] == (
        "talospatch: internal error: the rendered patch does not read back as the generated rules; "
        "please report this as a bug"
    )


def test_keyboard_interrupt_exits_130(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import talospatch.cli

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(talospatch.cli, "app", interrupted)
    result = cli("gen", *WORKER)
    assert result.code == 130
    assert result.out == ""
    assert "Traceback" not in result.err


def test_a_command_runs_with_fewer_collections(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int]] = []
    make_patch = talospatch.workflows.patch.make_patch

    def recording(*args: object, **kwargs: object) -> talospatch.workflows.patch.Patch:
        seen.append(gc.get_threshold())
        return make_patch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(talospatch.workflows.patch, "make_patch", recording)
    before = gc.get_threshold()
    ok(run(capsys, "gen", "--role", "worker", "--subnet", "192.168.30.0/24"))
    assert seen == [(10_000, *before[1:])]
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_after_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    before = gc.get_threshold()
    assert run(capsys, "gen", "--role", "worker", "--subnet", "not-a-cidr").code == 3
    assert gc.get_threshold() == before
