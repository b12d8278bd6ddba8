"""A spec's validation errors as one line naming the file, line and key.

pydantic's first error becomes ``talospatch.yaml:12: roles.worker.addons[1]: ...``: the key
path as the spec spells it, the line from the marked YAML, and a message that says what is
allowed (the valid keys of the mapping, "must be a list").
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from talospatch.decode import DecodeError
from talospatch.generate.profiles import RULE_KEYS
from talospatch.spec.model import ClusterSpec, ExportSpec, NodeSpec, Settings
from talospatch.yamlio import Marked


def key_path(loc: tuple[str | int, ...]) -> str:
    """``("roles", "worker", "addons", 1)`` -> ``roles.worker.addons[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def error_line(exc: ValidationError, path: str, marked: Marked) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    decoded = (err.get("ctx") or {}).get("error")
    if isinstance(decoded, DecodeError):  # an extra rule, checked as profiles are: name its own key
        loc += decoded.path
        if decoded.unknown_key:
            return f"{path}:{marked.line(loc)}: {key_path(loc)}: unknown key; valid: {', '.join(RULE_KEYS)}"
        msg = decoded.message
    line = marked.line(loc)
    where = key_path(loc)
    if err["type"] == "extra_forbidden":
        parent = loc[:-1]
        model: type[BaseModel] = ClusterSpec if not parent else Settings
        if len(parent) == 2 and parent[0] == "exports":
            if loc[-1] == "mergeInto":
                return (
                    f"{path}:{line}: {where}: a build writes the pfSense sections whole; merge them into "
                    "a config.xml with talospatch export pfsense --merge-into BACKUP.xml"
                )
            model = ExportSpec
        if len(parent) == 2 and parent[0] == "nodes":
            model = NodeSpec
        valid = ", ".join(f.alias or n for n, f in model.model_fields.items())
        return f"{path}:{line}: {where}: unknown key; valid: {valid}"
    if err["type"] == "missing":
        return f"{path}:{line}: {where}: missing"
    if err["type"] in ("tuple_type", "list_type"):
        msg = "must be a list, e.g. [a, b]"
    elif err["type"] in ("dict_type", "model_type", "model_attributes_type"):
        msg = "must be a mapping of keys to values"
    return f"{path}:{line}: {where}: {msg}" if where else f"{path}:{line}: {msg}"
