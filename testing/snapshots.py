"""Snapshots stored as plain text files with the output's own suffix (``.yaml``, ``.tf``, ...).

A reviewer reads a pull request's snapshot diff as the file a node or a firewall will get.
Every snapshot lives under ``tests/__snapshots__/``, in a folder named for the test module's
package and file (``tests/__snapshots__/generate/test_snapshots/``), so one place holds them all.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

if TYPE_CHECKING:
    from syrupy.location import PyTestLocation

TESTS = Path(__file__).resolve().parents[1] / "tests"


class _OneFolder(SingleFileSnapshotExtension):
    """Snapshots of ``tests/PACKAGE/test_x.py`` go to ``tests/__snapshots__/PACKAGE/test_x/``."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        package = Path(test_location.filepath).resolve().parent.relative_to(TESTS)
        return str(TESTS / "__snapshots__" / package / test_location.basename)


@functools.cache
def text_snapshot(suffix: str) -> type[SingleFileSnapshotExtension]:
    """The syrupy extension that keeps each snapshot as one ``.<suffix>`` text file."""
    return type(
        f"{suffix.capitalize()}Snapshot",
        (_OneFolder,),
        {"file_extension": suffix, "_write_mode": WriteMode.TEXT},
    )
