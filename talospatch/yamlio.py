"""The one module that speaks YAML (ruamel.yaml).

Loading is safe (plain dicts, lists and scalars); dumping is deterministic and writes
documents the way Talos's own encoder does: 4-space indents, keys in the given order,
single ports as integers and port ranges as quoted ``"lo-hi"`` strings.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from talospatch.errors import BadInput


def _loader() -> YAML:
    yaml = YAML(typ="safe")  # the C parser from ruamel.yaml.clib when installed
    yaml.allow_duplicate_keys = False
    return yaml


def load_all(text: str, where: str) -> list[Any]:
    """Every document of a YAML stream; empty documents are dropped."""
    try:
        return [doc for doc in _loader().load_all(text) if doc is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise BadInput(f"{where}:{line}: invalid YAML: {exc.problem}") from None
    except YAMLError as exc:
        raise BadInput(f"{where}: invalid YAML: {str(exc).splitlines()[0]}") from None


def load_one(text: str, where: str) -> Any:
    """A YAML file that must hold exactly one document."""
    docs = load_all(text, where)
    if len(docs) != 1:
        raise BadInput(f"{where}: expected one YAML document, found {len(docs)}")
    return docs[0]


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Marked:
    """One YAML document as plain data, with the line where each key and list item starts.

    ``lines`` maps a path (keys and list indexes from the top) to its 1-based line.
    """

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest parent that has one (1 for the top)."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1


def _plain(node: Any, path: Path, lines: dict[Path, int]) -> Any:
    """Round-trip nodes as dicts, lists and built-in scalars, recording each path's line."""
    if isinstance(node, dict):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            plain_key = _plain(key, (), {})
            if hasattr(node, "lc"):
                lines[(*path, plain_key)] = node.lc.key(key)[0] + 1
            out[plain_key] = _plain(value, (*path, plain_key), lines)
        return out
    if isinstance(node, list):
        items = []
        for index, value in enumerate(node):
            if hasattr(node, "lc"):
                lines[(*path, index)] = node.lc.item(index)[0] + 1
            items.append(_plain(value, (*path, index), lines))
        return items
    if isinstance(node, bool) or node is None:
        return node
    for kind in (str, int, float):
        if isinstance(node, kind):
            return kind(node)
    return node


def load_marked(text: str, where: str) -> Marked:
    """A YAML file of one document (an empty file is an empty mapping), keeping line numbers."""
    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        documents = [doc for doc in yaml.load_all(text) if doc is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f"{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or str(exc).splitlines()[0]
        raise BadInput(f"{where}:{line}: invalid YAML: {problem}") from None
    except YAMLError as exc:
        raise BadInput(f"{where}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if len(documents) > 1:
        raise BadInput(f"{where}: expected one YAML document, found {len(documents)}")
    lines: dict[Path, int] = {}
    data = _plain(documents[0], (), lines) if documents else {}
    return Marked(data, lines)


def _quote_ranges(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _quote_ranges(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quote_ranges(v) for v in value]
    if isinstance(value, str) and "-" in value and value.replace("-", "").isdigit():
        return DoubleQuotedScalarString(value)
    return value


def dump(data: dict[str, Any]) -> str:
    """One document as YAML text, without ``---`` markers."""
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=4, sequence=6, offset=4)
    yaml.width = 4096
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(_quote_ranges(data), out)
    return out.getvalue()
