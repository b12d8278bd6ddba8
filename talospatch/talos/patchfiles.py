"""Read Talos patch files (``-`` is standard input) into the firewall they configure.

A file may also be a whole machine config or ``talosctl get machineconfig -o yaml`` output,
or a patch written for talhelper (``$$patch``), read as talhelper passes it to Talos
(``talospatch.talhelper.readable``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from talospatch.errors import BadInput
from talospatch.talhelper import readable
from talospatch.talos.documents import Firewall, apply_patches
from talospatch.talos.machineconfig import config_documents, is_resource
from talospatch.yamlio import load_all


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


def read_patch(path: str) -> str:
    """A patch file's text as talosctl reads it (a file for talhelper with its escapes undone)."""
    return readable(read_text(path), source_name(path))


def read_patches(paths: Sequence[str]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """Each file's mapping documents (a ``talosctl get machineconfig`` resource gives its spec's)."""
    patches: list[tuple[str, list[Mapping[str, Any]]]] = []
    for path in paths:
        where = source_name(path)
        text = read_patch(path)
        documents = load_all(text, where)
        if any(is_resource(d) for d in documents):  # talosctl get machineconfig -o yaml
            documents = [doc for _, doc in config_documents(text, where)]
        patches.append((where, [d for d in documents if isinstance(d, dict)]))
    return patches


def load_firewall(paths: Sequence[str]) -> Firewall:
    """Apply the patch files in order, as ``talosctl --config-patch`` would."""
    return apply_patches(read_patches(paths))
