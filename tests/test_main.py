"""main runs a command with fewer cyclic collections and gives the caller its thresholds back."""

from __future__ import annotations

import gc

import pytest
from helpers import ok, run

import talospatch.patch


def test_a_command_runs_with_fewer_collections(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int]] = []
    make_patch = talospatch.patch.make_patch

    def recording(*args: object, **kwargs: object) -> talospatch.patch.Patch:
        seen.append(gc.get_threshold())
        return make_patch(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(talospatch.patch, "make_patch", recording)
    before = gc.get_threshold()
    ok(run(capsys, "gen", "--role", "worker", "--subnet", "192.168.30.0/24"))
    assert seen == [(10_000, *before[1:])]
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_after_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    before = gc.get_threshold()
    assert run(capsys, "gen", "--role", "worker", "--subnet", "not-a-cidr").code == 3
    assert gc.get_threshold() == before
