"""The documents of a machine config, as files hold them.

Three shapes are read alike: a patch file, a whole machine config (the ``v1alpha1`` document
followed by named documents) and the output of ``talosctl get machineconfig -o yaml``, a
resource whose ``spec`` is the config as one YAML string. Other kinds pass through; the
caller keeps the ones it knows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from talospatch.yamlio import load_all


def is_resource(data: object) -> bool:
    """``talosctl get machineconfig -o yaml`` output: ``metadata`` and a ``spec``.

    Since talosctl v1.8 (siderolabs/talos#8980) ``spec`` is the config as one string, so that
    a multi-document config survives; before, it was the ``v1alpha1`` document as a mapping.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("metadata"), Mapping):
        return False
    spec = data.get("spec")
    return isinstance(spec, str) or (isinstance(spec, Mapping) and spec.get("version") == "v1alpha1")


def config_documents(text: str, where: str) -> list[tuple[str, Mapping[str, Any]]]:
    """Every mapping document of ``text`` with where it is (``FILE: document N``).

    A ``talosctl get machineconfig`` resource is replaced by the documents of its ``spec``
    (``FILE: spec document N``); a stream of several resources (several nodes) gives them all.
    """
    out: list[tuple[str, Mapping[str, Any]]] = []
    documents = load_all(text, where)
    for index, data in enumerate(documents, start=1):
        if is_resource(data):
            node = data.get("node")
            label = f"{where}: node {node}" if node and len(documents) > 1 else where
            spec = data["spec"]
            inner_documents = load_all(spec, f"{label}: spec") if isinstance(spec, str) else [spec]
            for inner, doc in enumerate(inner_documents, start=1):
                if isinstance(doc, Mapping):
                    out.append((f"{label}: spec document {inner}", doc))
        elif isinstance(data, Mapping):
            out.append((f"{where}: document {index}", data))
    return out
