"""The one module that speaks YAML (ruamel.yaml).

Loading is safe (plain dicts, lists and scalars); dumping is deterministic and writes
documents the way Talos's own encoder does: 4-space indents, keys in the given order,
single ports as integers and port ranges as quoted ``"lo-hi"`` strings.
"""

from __future__ import annotations

import io
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
