"""Read Talos patch files (``-`` is standard input) into the firewall they configure.

A file may also be a whole machine config or ``talosctl get machineconfig -o yaml`` output.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from talospatch.errors import BadInput
from talospatch.talos.documents import Firewall, apply_patches
from talospatch.talos.machineconfig import config_documents


def source_name(path: str) -> str:
    """How messages name a file argument: ``-`` is standard input."""
    return "stdin" if path == "-" else path


def read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {exc}") from None


# One file's documents with where each is (``FILE: document N``), as ``read_patches`` gives them.
PatchFile = tuple[str, list[tuple[str, Mapping[str, Any]]]]


def read_patches(paths: Sequence[str]) -> list[PatchFile]:
    """Each file (``-`` is stdin, read once) with its mapping documents; a ``talosctl get
    machineconfig -o yaml`` resource gives the documents of its ``spec``."""
    patches: list[PatchFile] = []
    for path in paths:
        where = source_name(path)
        patches.append((where, config_documents(read_text(path), where)))
    return patches


def firewall_of(patches: Sequence[PatchFile]) -> Firewall:
    """Apply the files' documents in order, as ``talosctl --config-patch`` would."""
    return apply_patches([(where, [doc for _, doc in documents]) for where, documents in patches])


def load_firewall(paths: Sequence[str]) -> Firewall:
    """Apply the patch files in order, as ``talosctl --config-patch`` would."""
    return firewall_of(read_patches(paths))
