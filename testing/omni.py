"""An Omni cluster template read as Omni reads it, from its sources: an independent reader.

siderolabs/omni ``client/pkg/template`` (``template.go`` ``Load``, ``internal/models``):

- ``Load``: every document is a mapping with a ``kind`` of a registered model (``Cluster``,
  ``ControlPlane``, ``Workers``, ``Machine``), decoded with ``KnownFields(true)``: a key the
  model's struct does not name is an error (the keys below are the structs' yaml tags,
  inlined ``Meta`` and ``Descriptors`` included).
- ``Validate``: a patch has ``file`` or ``inline``, not both; an inline patch needs ``name``
  or ``idOverride`` (``patch.go``); ``inline`` is a string (``!!str``), a mapping or a list of
  mappings (``inline.go``); a file is read relative to the template's folder and, as omnictl
  opens it (``omnictl/cluster/template/template.go``, ``--allowed-dir`` default ``./``), only
  inside it; the patch must not hold the documents or fields Omni controls
  (``omni/resources/omni/config_patch.go``); labels and annotations must not use the
  ``omni.sidero.dev/`` prefix (``models.go``); the ControlPlane has no custom name, Workers are
  not named ``control-planes`` (``controlplane.go``, ``workers.go``); the template has one
  Cluster, one ControlPlane and uniquely named Workers (``list.go``).
- ``Translate``: each patch becomes a ConfigPatch with the ID ``%03d-<prefix>-<name>`` (weight
  200 + index for the Cluster, 400 + index for machine sets and machines; the name defaults to
  the file path), and a duplicate ID is an error.

``template_patches`` does all of it and returns the ConfigPatches: ID -> the patch's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

META = {"kind", "labels", "annotations"}
MACHINE_SET = META | {
    "systemExtensions",
    "name",
    "bootstrapSpec",
    "machines",
    "machineClass",
    "updateStrategy",
    "deleteStrategy",
    "upgradeStrategy",
    "patches",
    "kernelArgs",
}
KEYS = {
    "Cluster": META | {"systemExtensions", "name", "kubernetes", "talos", "features", "patches", "kernelArgs"},
    "ControlPlane": MACHINE_SET,
    "Workers": MACHINE_SET,
    "Machine": META | {"systemExtensions", "name", "locked", "install", "patches", "kernelArgs"},
}
PATCH_KEYS = {"name", "idOverride", "labels", "annotations", "file", "inline"}
SYSTEM_PREFIX = "omni.sidero.dev/"
FORBIDDEN_DOCUMENTS = {
    "UnattendedInstallConfig",
    "DiscoveryIdentityConfig",
    "KubeClusterConfig",
    "KubeEtcdEncryptionConfig",
    "KubeAPIServerCAConfig",
    "KubeAggregatorCAConfig",
}
FORBIDDEN_FIELDS = (
    "cluster.clusterName",
    "cluster.id",
    "cluster.controlPlane.endpoint",
    "cluster.token",
    "cluster.secret",
    "cluster.aescbcEncryptionSecret",
    "cluster.secretboxEncryptionSecret",
    "cluster.ca",
    "cluster.acceptedCAs",
    "cluster.serviceAccount",
    "machine.token",
    "machine.ca",
    "machine.type",
    "machine.install.disk",
    "machine.install.extensions",
    "machine.acceptedCAs",
)
WEIGHT_CLUSTER = 200
WEIGHT_MACHINE_SET = 400


class OmniError(Exception):
    """What ``omnictl cluster template validate`` would report."""


@dataclass(frozen=True)
class ConfigPatch:
    id: str
    machine_set: str  # the machine set's ID, "" for the cluster's and machines' patches
    text: str


def _yaml() -> YAML:
    return YAML(typ="safe", pure=True)


def load(path: Path) -> list[dict[str, Any]]:
    """``Load``: the documents, each a known kind with known keys."""
    documents = [d for d in _yaml().load_all(path.read_text()) if d is not None]
    for index, document in enumerate(documents, 1):
        if not isinstance(document, dict) or "kind" not in document:
            raise OmniError(f"document {index}: kind field not found")
        kind = document["kind"]
        if kind not in KEYS:
            raise OmniError(f"document {index}: unknown model kind {kind!r}")
        unknown = set(document) - KEYS[kind]
        if unknown:
            raise OmniError(f"document {index} ({kind}): field {sorted(unknown)[0]} not found in type")
        for patch in document.get("patches") or []:
            if not isinstance(patch, dict) or set(patch) - PATCH_KEYS:
                raise OmniError(f"document {index} ({kind}): bad patch entry {patch!r}")
    return documents


def _inline_text(inline: Any, name: str) -> str:
    """``InlineContent``: a string is the patch itself; a mapping or a list of them, its documents."""
    if isinstance(inline, str):
        return inline
    if isinstance(inline, dict):
        inline = [inline]
    if not isinstance(inline, list) or not all(isinstance(d, dict) for d in inline):
        raise OmniError(f"patch {name!r}: unsupported inline node")
    import io

    out = io.StringIO()
    _yaml().dump_all(inline, out)
    return out.getvalue()


def _read_file(folder: Path, file: str) -> str:
    target = (folder / file).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise OmniError(f"failed to access {file!r}: path escapes from parent (--allowed-dir)")
    try:
        return target.read_text()
    except OSError as exc:
        raise OmniError(f"failed to access {file!r}: {exc.strerror}") from None


def _field(document: dict[str, Any], dotted: str) -> bool:
    node: Any = document
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def validate_config_patch(text: str, name: str) -> None:
    """``ValidateConfigPatch``: Talos documents, none of those Omni controls."""
    documents = [d for d in _yaml().load_all(text) if d is not None]
    if not documents:
        raise OmniError(f"patch {name!r}: no documents")
    for document in documents:
        if not isinstance(document, dict):
            raise OmniError(f"patch {name!r}: a document is not a mapping")
        kind = document.get("kind")
        if kind is None:  # the v1alpha1 document
            for dotted in FORBIDDEN_FIELDS:
                if _field(document, dotted):
                    raise OmniError(f"patch {name!r}: overriding {dotted!r} is not allowed in the config patch")
            continue
        if document.get("apiVersion") != "v1alpha1":
            raise OmniError(f"patch {name!r}: {kind} without apiVersion v1alpha1")
        if kind in FORBIDDEN_DOCUMENTS:
            raise OmniError(f"patch {name!r}: the {kind!r} document is not allowed in the config patch")


def _descriptors(entry: dict[str, Any], what: str) -> None:
    for key in ("labels", "annotations"):
        for label in entry.get(key) or {}:
            if str(label).startswith(SYSTEM_PREFIX):
                raise OmniError(f"{what}: {key[:-1]} {label!r} is invalid: prefix {SYSTEM_PREFIX!r} is reserved")


def _patches(
    entries: list[dict[str, Any]], folder: Path, prefix: str, weight: int, machine_set: str
) -> list[ConfigPatch]:
    out = []
    for index, entry in enumerate(entries):
        name = entry.get("name") or entry.get("file") or ""
        _descriptors(entry, f"patch {name!r}")
        if ("file" in entry) == ("inline" in entry):
            raise OmniError(f"patch {name!r}: path or inline is required, and they are mutually exclusive")
        if "inline" in entry:
            if not entry.get("name") and not entry.get("idOverride"):
                raise OmniError("either name or idOverride is required for inline patches")
            text = _inline_text(entry["inline"], name)
        else:
            text = _read_file(folder, entry["file"])
        validate_config_patch(text, name)
        patch_id = entry.get("idOverride") or f"{weight + index:03d}-{prefix}-{name}"
        out.append(ConfigPatch(patch_id, machine_set, text))
    return out


def template_patches(path: Path) -> dict[str, ConfigPatch]:
    """The template's ConfigPatches by ID, as ``validate`` and ``render`` make them; ``OmniError``."""
    documents = load(path)
    kinds = [d["kind"] for d in documents]
    if kinds.count("Cluster") != 1:
        raise OmniError(f"template should contain 1 cluster, got {kinds.count('Cluster')}")
    if kinds.count("ControlPlane") != 1:
        raise OmniError(f"template should contain 1 controlplane, got {kinds.count('ControlPlane')}")
    workers = [d.get("name", "") for d in documents if d["kind"] == "Workers"]
    if len(set(workers)) != len(workers):
        raise OmniError("duplicate workers")
    cluster = next(d for d in documents if d["kind"] == "Cluster")
    if not cluster.get("name"):
        raise OmniError("cluster name is required")
    name = cluster["name"]
    patches: list[ConfigPatch] = []
    for document in documents:
        kind = document["kind"]
        _descriptors(document, kind)
        entries = document.get("patches") or []
        if kind == "Cluster":
            patches += _patches(entries, path.parent, f"cluster-{name}", WEIGHT_CLUSTER, "")
        elif kind == "Machine":
            patches += _patches(entries, path.parent, f"cm-{document['name']}", WEIGHT_MACHINE_SET, "")
        else:
            if kind == "ControlPlane" and document.get("name"):
                raise OmniError("custom name is not allowed in the controlplane")
            if kind == "Workers" and document.get("name") == "control-planes":
                raise OmniError('name "control-planes" cannot be used in workers')
            suffix = "control-planes" if kind == "ControlPlane" else document.get("name") or "workers"
            machine_set = f"{name}-{suffix}"
            patches += _patches(entries, path.parent, machine_set, WEIGHT_MACHINE_SET, machine_set)
    by_id: dict[str, ConfigPatch] = {}
    for patch in patches:
        if patch.id in by_id:
            raise OmniError(f"resource ID duplicate ConfigPatches.omni.sidero.dev({patch.id})")
        by_id[patch.id] = patch
    return by_id
