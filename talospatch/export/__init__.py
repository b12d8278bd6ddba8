"""``talospatch export``: the same rules for the other firewalls in the cluster's path.

A target is a module here with ``render(cluster, options) -> Export``, listed in
``talospatch.registry`` (which says how to add one). ``render`` imports the target's module
when it is asked for, so a command loads only the target it writes. Nothing here prints or
writes files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol

from talospatch import registry

if TYPE_CHECKING:
    from talospatch.export.cluster import Cluster, Export


class TargetModule(Protocol):
    """What a target's module provides."""

    def render(self, cluster: Cluster, options: registry.ExportOptions, /) -> Export: ...


def target_module(name: str) -> TargetModule:
    """The module of the target ``name``; ``BadInput`` for an unknown name."""
    module: TargetModule = importlib.import_module(f"{__name__}.{registry.target(name).module}")
    return module


def render(name: str, cluster: Cluster, options: registry.ExportOptions | None = None) -> Export:
    """The files of the target ``name`` for ``cluster``; ``BadInput`` for an unknown name."""
    return target_module(name).render(cluster, options or registry.ExportOptions())
