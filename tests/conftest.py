"""Fixtures shared by every test: the command-line runner and a scratch network namespace.

The test infrastructure itself (the CLI runner, the reference cluster's constants, document
builders, the network-namespace lab) lives in the type-checked ``testing`` package.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from testing.netlab import scratch_netns
from testing.runner import Cli, run


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("gen", ...)`` runs talospatch through ``main`` and returns a ``Result``."""
    return functools.partial(run, capsys)


@pytest.fixture
def netns() -> Iterator[str]:
    """An empty network namespace for loading rulesets with ``nft``; deleted afterwards."""
    with scratch_netns() as name:
        yield name
