"""Fixtures shared by every test: the command-line runner and a scratch network namespace.

Tests that need the real kernel (network namespaces, ``nft`` in a namespace) carry the
``kernel`` marker: ``pytest -m "not kernel"`` runs the rest without touching namespaces. A
test taking the ``netns`` fixture gets the marker here; the others set it themselves.

The test infrastructure itself (the CLI runner, the reference cluster's constants, document
builders, the network-namespace lab) lives in the type-checked ``testing`` package.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
from syrupy.assertion import SnapshotAssertion

from testing.netlab import scratch_netns
from testing.runner import Cli, run
from testing.snapshots import text_snapshot


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("gen", ...)`` runs talospatch through ``main`` and returns a ``Result``."""
    return functools.partial(run, capsys)


@pytest.fixture
def snapshot_yaml(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """A snapshot kept as a plain ``.yaml`` file: the patch a node receives."""
    return snapshot.use_extension(text_snapshot("yaml"))


@pytest.fixture
def netns() -> Iterator[str]:
    """An empty network namespace for loading rulesets with ``nft``; deleted afterwards."""
    with scratch_netns() as name:
        yield name


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "netns" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kernel)
