"""Removing rules from nodes: Talos merges patch documents by name and never drops one a patch omits.

Two sources of rules to delete, each written as a ``$patch: delete`` document (a tombstone):

- the previous output file (``build``): every NetworkRuleConfig it held that the new set lacks.
  Its tombstone names the generation that removed it and why. A tombstone stays until its rule
  returns (then it is dropped: the rule is generated again), or, with ``keepTombstones: N``,
  until N generations after its removal. Deleting a document the node does not have is a
  no-op (Talos skips it), so keeping them is safe; dropping one early leaves the rule open on
  a node that was not re-applied in between.
- the node's own config (``--prune-from``/``pruneFrom``): a machine config (multi-document
  YAML) or ``talosctl get machineconfig -o yaml`` output, whose ``spec`` holds the config as a
  string (Talos >= 1.8) or a mapping (older). Every NetworkRuleConfig there that is not
  generated now is deleted, so applying the patch leaves exactly the generated set.

A file's generation counts the builds that changed it; it is written in the header, so the
output depends only on the inputs and the previous file (no timestamps).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from talospatch.errors import BadInput
from talospatch.talos.documents import RULE_KIND
from talospatch.talos.patchfiles import read_text
from talospatch.yamlio import load_all

_GENERATION = re.compile(r"\(generation (\d+)\)$")
_REMOVED_IN = re.compile(r"removed in generation (\d+)")


@dataclass(frozen=True)
class Tombstone:
    """A rule to delete: its name and the comment lines above its delete document."""

    name: str
    comment: tuple[str, ...]
    removed_in: int | None = None  # the generation that removed it, when known


@dataclass(frozen=True)
class Previous:
    """What the previous output file holds: its generation, rules (with their profile) and tombstones."""

    text: str
    generation: int
    rules: dict[str, str | None]
    tombstones: dict[str, Tombstone]


def _chunks(text: str) -> list[list[str]]:
    """The documents of a stream as line lists (split at ``---`` lines)."""
    chunks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.rstrip() == "---":
            chunks.append([])
        else:
            chunks[-1].append(line)
    return chunks


def parse_previous(text: str, where: str) -> Previous:
    """Read an output file written before (by ``build`` or ``gen``, or edited by hand)."""
    load_all(text, where)  # the whole file must be valid YAML: its errors name the line
    generation = 0
    rules: dict[str, str | None] = {}
    tombstones: dict[str, Tombstone] = {}
    for index, lines in enumerate(_chunks(text)):
        comments = [line for line in lines if line.startswith("#")]
        if index == 0:
            for line in comments:
                found = _GENERATION.search(line)
                if found:
                    generation = int(found.group(1))
        for data in load_all("\n".join(lines), where):
            if not isinstance(data, Mapping) or data.get("kind") != RULE_KIND or not isinstance(data.get("name"), str):
                continue
            name = data["name"]
            if data.get("$patch") == "delete":
                removed = next((int(m.group(1)) for c in comments if (m := _REMOVED_IN.search(c))), None)
                tombstones[name] = Tombstone(name, tuple(comments), removed)
            else:
                profile = None
                title = re.compile(rf"^# {re.escape(name)}: .*\(([^()]+)\)$")
                for line in comments:
                    if found := title.match(line):
                        profile = found.group(1)
                rules[name] = profile
    return Previous(text, generation, rules, tombstones)


def _machine_configs(documents: list[Any], where: str) -> list[Any]:
    """The config documents: of a machine config as they are, of a MachineConfig resource its spec."""
    configs: list[Any] = []
    for index, data in enumerate(documents, start=1):
        metadata = data.get("metadata") if isinstance(data, Mapping) else None
        if isinstance(metadata, Mapping) and "spec" in data and "MachineConfig" in str(metadata.get("type", "")):
            spec = data["spec"]
            node = data.get("node") or f"resource {index}"
            if isinstance(spec, str):
                configs += load_all(spec, f"{where}: {node} spec")
            elif isinstance(spec, Mapping):
                configs.append(spec)
            else:
                raise BadInput(f"{where}: {node}: spec is neither a config string nor a mapping")
        else:
            configs.append(data)
    return configs


def node_documents(text: str, where: str) -> list[Mapping[str, Any]]:
    """The config documents of a machine config or of ``talosctl get machineconfig -o yaml``."""
    return [d for d in _machine_configs(load_all(text, where), where) if isinstance(d, Mapping)]


def read_node_documents(path: str, label: str) -> list[Mapping[str, Any]]:
    """The documents of the node config at ``path``; ``label`` names the option in messages."""
    try:
        text = read_text(path)
    except BadInput as exc:
        raise BadInput(f"{label} {exc}") from None
    return node_documents(text, path)


def rule_names(documents: list[Mapping[str, Any]]) -> list[str]:
    """The NetworkRuleConfig names a config holds (delete documents left out), in order."""
    names: list[str] = []
    for data in documents:
        name = data.get("name")
        if data.get("kind") == RULE_KIND and isinstance(name, str) and data.get("$patch") != "delete":
            names.append(name)
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class RemovalPlan:
    """What to delete beside the generated rules, for one file."""

    generated: frozenset[str]
    # Rule name -> why it is gone, for rules the previous file held and the node config holds.
    previous: Previous | None
    node_rules: tuple[str, ...]
    node_file: str | None
    selected_profiles: frozenset[str]
    role: str
    keep: int | None = None

    def tombstones(self, generation: int | None) -> list[Tombstone]:
        """The delete documents of a file of ``generation`` (``None``: gen, which has none), by name."""
        out: dict[str, Tombstone] = {}
        previous = self.previous
        if previous is not None:
            for name, old in previous.tombstones.items():
                expired = (
                    self.keep is not None
                    and generation is not None
                    and old.removed_in is not None
                    and generation - old.removed_in >= self.keep
                )
                if name not in self.generated and not expired:
                    out[name] = old
            for name, profile in previous.rules.items():
                if name not in self.generated and name not in out:
                    out[name] = self._new(name, self._why_gone(profile), generation)
        for name in self.node_rules:
            if name not in self.generated and name not in out:
                why = f"the node's config ({self.node_file}) has it and no selected profile generates it"
                out[name] = self._new(name, why, generation)
        return [out[name] for name in sorted(out)]

    def _why_gone(self, profile: str | None) -> str:
        if profile is None:
            return "the previous build had it and no selected profile generates it now"
        if profile not in self.selected_profiles:
            return f"profile {profile} is no longer selected for role {self.role}"
        return f"profile {profile} no longer generates it for role {self.role} (renamed, removed, or no source given)"

    def _new(self, name: str, why: str, generation: int | None) -> Tombstone:
        if generation is None:  # gen: no previous file, nothing to keep
            text = f"{name}: removed: {why}. Deletes it from the node (a no-op where it is absent)."
        else:
            stays = "until the rule returns" if self.keep is None else f"for {self.keep} generations"
            text = (
                f"{name}: removed in generation {generation}: {why}. Deletes it from nodes that still have it "
                f"(a no-op on the others); kept {stays}."
            )
        comment = tuple(f"# {line}" for line in textwrap.wrap(text, 90, break_on_hyphens=False, break_long_words=False))
        return Tombstone(name, comment, generation)
