"""Other tools' YAML files, edited in place: comments and quoting kept (ruamel.yaml round trip).

``talospatch.yamlio`` reads and writes talospatch's own documents as plain data. A file that
belongs to another tool (an Omni cluster template) is read here as ruamel's round-trip nodes,
so that what talospatch does not own (the user's comments, documents, keys and quoting)
survives an edit. It is written back in the block style of Kubernetes and Omni's docs:
2-space mappings, list items indented by 2.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from talospatch.yamlio import invalid_yaml


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    return yaml


def load_documents(text: str, where: str) -> list[Any]:
    """The documents of ``text`` as round-trip nodes (empty documents dropped); ``BadInput`` with
    the line where the YAML breaks."""
    try:
        return [doc for doc in _yaml().load_all(text) if doc is not None]
    except YAMLError as exc:
        raise invalid_yaml(exc, where) from None


def dump_documents(documents: list[Any]) -> str:
    """The documents as one stream, ``---`` between them."""
    out = io.StringIO()
    _yaml().dump_all(documents, out)
    return out.getvalue()


def restyle(text: str) -> str:
    """One document of talospatch's own (4-space indents) in the 2-space style, quoting kept."""
    (document,) = load_documents(text, "<document>")
    return dump_documents([document])
