"""Fixtures the export tests share."""

from __future__ import annotations

import pytest

from testing.snapshots import text_snapshot


@pytest.fixture
def snapshot_xml(snapshot):  # type: ignore[no-untyped-def]
    """A snapshot kept as an ``.xml`` file (pfSense's restore areas and merged configs)."""
    return snapshot.use_extension(text_snapshot("xml"))
