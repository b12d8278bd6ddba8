"""Snapshots stored as plain text files with the output's own suffix (``.yaml``, ``.tf``, ...).

A reviewer reads a pull request's snapshot diff as the file a node or a firewall will get.
"""

from __future__ import annotations

import functools

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


@functools.cache
def text_snapshot(suffix: str) -> type[SingleFileSnapshotExtension]:
    """The syrupy extension that keeps each snapshot as one ``.<suffix>`` text file."""
    return type(
        f"{suffix.capitalize()}Snapshot",
        (SingleFileSnapshotExtension,),
        {"file_extension": suffix, "_write_mode": WriteMode.TEXT},
    )
