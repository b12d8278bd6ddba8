"""The one module that speaks YAML (ruamel.yaml).

Loading is safe (plain dicts, lists and scalars) and uses ruamel's C parser
(``ruamel.yaml.clib``). A stream without tags, anchors, merge keys or timestamps (every
patch talospatch writes, and most specs) is built straight from the parser's events, as
ruamel's safe constructor would build it; anything else goes to that constructor.

Dumping is deterministic and writes documents the way Talos's own encoder does: 4-space
indents, keys in the given order, single ports as integers and port ranges as quoted
``"lo-hi"`` strings.

The firewall documents are small and regular (names, CIDRs, ports), and a patch may carry
thousands of CIDRs, so ``dump`` writes them itself, byte for byte as ruamel's round-trip
emitter would; anything outside that shape (a scalar that could need quoting, an empty or
nested collection) goes to ruamel. ``tests/test_yamlio.py`` holds the two to the same bytes.
"""

from __future__ import annotations

import functools
import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from talospatch.errors import BadInput

try:
    from ruamel.yaml.cyaml import CParser  # type: ignore[attr-defined]
except ImportError:  # ruamel.yaml.clib is a dependency on CPython only; elsewhere: the pure parser
    CParser = None


class _Yaml12Resolver(VersionedResolver):
    """Every document is read as YAML 1.2, the YAML Talos reads, whatever a ``%YAML``
    directive says. (ruamel looks the version up again for every scalar, which was a third
    of the time a patch with thousands of CIDRs took to read back.)"""

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 2)


if CParser is not None:

    class _CSafeLoader(CParser, SafeConstructor, _Yaml12Resolver):  # type: ignore[misc]
        """The loader ``YAML(typ="safe")`` puts together around the C parser, as one class.

        ``YAML.load_all`` defines a new loader class at every call: that class, the loader
        (its own parser, composer, constructor and resolver) and the C parser's buffers make
        a cycle left to the garbage collector, and a build of thousands of patches held
        megabytes of them. ``_c_load`` breaks the loader's cycle when it is done instead.
        """

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            self._parser = self._composer = self
            SafeConstructor.__init__(self, loader=self)
            _Yaml12Resolver.__init__(self, loadumper=self)
            self.allow_duplicate_keys = False


class _ScalarConstructor(SafeConstructor, _Yaml12Resolver):
    """ruamel's safe constructors of YAML 1.2 scalars (``construct_yaml_int`` asks the
    resolver for the version), for ``_plain_load``."""

    def __init__(self) -> None:
        SafeConstructor.__init__(self, loader=self)
        _Yaml12Resolver.__init__(self, loadumper=self)


_SCALARS = _ScalarConstructor()


@functools.cache
def _implicit() -> dict[str, list[tuple[str, re.Pattern[str]]]]:
    """What ruamel resolves a plain scalar to, by its first character: (tag, pattern), in
    order. Compiled at the first read, not at import (commands that read no YAML start
    faster); ruamel's own patterns sit behind a wrapper that costs a call per match."""
    return {
        first: [(tag, re.compile(lazy.pattern, lazy.flags)) for tag, lazy in resolvers]
        for first, resolvers in _SCALARS.versioned_resolver.items()
    }


# The tags ``_plain_load`` constructs itself (with ruamel's constructor); str is the default.
_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "null")}


class _NotPlain(Exception):
    """The stream uses what only ruamel's constructor reads: a tag, an anchor or alias, a
    merge key, a timestamp, a key that is not a scalar, or a key twice."""


_WANTS_KEY = object()  # a mapping on ``_plain_load``'s stack waits for a key, not a value


def _plain_scalar(value: str, plain: bool) -> Any:
    """A scalar as ruamel's safe loader reads it: a quoted or block scalar is a string; a
    plain one is resolved by the YAML 1.2 patterns, then constructed by ruamel."""
    if plain:
        for tag, pattern in _implicit().get(value[:1], ()):
            if pattern.match(value):
                if tag not in _PLAIN_TAGS:
                    raise _NotPlain
                return SafeConstructor.yaml_constructors[tag](_SCALARS, ScalarNode(tag, value))
    return value


def _plain_load(text: str) -> list[Any] | None:
    """The non-empty documents of ``text`` built from the C parser's events, or None when the
    stream is not plain (``_NotPlain``): then ruamel's constructor reads it.

    Mappings, lists and untagged scalars give what ruamel's safe loader gives (the tests
    compare the two), at half the time: a build reads back every patch it renders, and
    ruamel's constructor was the largest part of that.
    """
    parser = CParser(text)
    documents: list[Any] = []
    stack: list[list[Any]] = []  # the open collections: [collection, the key its next value takes]
    try:
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent:
                if event.anchor is not None or event.tag is not None:
                    raise _NotPlain
                if kind is ScalarEvent:
                    node = _plain_scalar(event.value, event.implicit[0])
                else:
                    node = {} if kind is MappingStartEvent else []
                if not stack:
                    documents.append(node)
                else:
                    top = stack[-1]
                    container, key = top
                    if type(container) is list:
                        container.append(node)
                    elif key is _WANTS_KEY:
                        if kind is not ScalarEvent or node in container:
                            raise _NotPlain
                        top[1] = node
                    else:
                        container[key] = node
                        top[1] = _WANTS_KEY
                if kind is not ScalarEvent:
                    stack.append([node, _WANTS_KEY])
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                stack.pop()
            elif kind is AliasEvent:
                raise _NotPlain
    except _NotPlain:
        return None
    finally:
        parser.dispose()
    return [document for document in documents if document is not None]


def _c_load(text: str) -> list[Any]:
    """The non-empty documents of ``text``, read with the C parser (``YAMLError`` without it)."""
    if CParser is None:
        raise YAMLError("ruamel.yaml.clib is not installed")
    documents = _plain_load(text)
    if documents is not None:
        return documents
    loader = _CSafeLoader(text)
    try:
        documents = []
        while loader.check_data():
            document = loader.get_data()
            if document is not None:
                documents.append(document)
        return documents
    finally:
        loader.dispose()
        loader.__dict__.clear()  # its references to itself: freed now, not by the collector


@functools.cache
def _pure_loader() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Resolver = _Yaml12Resolver
    yaml.allow_duplicate_keys = False
    return yaml


def _pure_load(text: str) -> list[Any]:
    """The non-empty documents of ``text``, read with the pure-Python parser."""
    yaml = _pure_loader()
    try:
        return [doc for doc in yaml.load_all(text) if doc is not None]
    except BaseException:
        _pure_loader.cache_clear()  # ruamel does not promise a loader is usable after an error
        raise
    finally:
        # ruamel keeps a ``DocInfo`` per document read in ``doc_infos`` and never drops them.
        yaml.doc_infos.clear()


def load_all(text: str, where: str) -> list[Any]:
    """Every document of a YAML stream; empty documents are dropped.

    libyaml (the C parser) is stricter than the YAML 1.2 Talos reads: it refuses, for one, a
    URL in a flow-style mapping (``{source: https://...}``). What it refuses, the pure-Python
    parser decides, and its message is the one reported.
    """
    try:
        return _c_load(text)
    except YAMLError:
        pass
    try:
        return _pure_load(text)
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


class Marked:
    """One YAML document as plain data, with the line where each key and list item starts.

    The data comes from the fast loader; the lines (a path of keys and list indexes from the
    top -> its 1-based line) from ruamel's round-trip parser, run only when a message asks.
    """

    def __init__(self, data: Any, text: str) -> None:
        self.data = data
        self._text = text

    @functools.cached_property
    def lines(self) -> dict[Path, int]:
        yaml = YAML(typ="rt", pure=True)
        lines: dict[Path, int] = {}
        documents = [doc for doc in yaml.load_all(self._text) if doc is not None]
        if documents:
            _plain(documents[0], (), lines)
        return lines

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
    try:
        documents = _c_load(text)
    except YAMLError:
        # The round-trip parser reports where the YAML breaks (or reads what libyaml refuses).
        yaml = YAML(typ="rt", pure=True)
        yaml.allow_duplicate_keys = False
        try:
            documents = [_plain(doc, (), {}) for doc in yaml.load_all(text) if doc is not None]
        except YAMLError as exc:
            raise invalid_yaml(exc, where) from None
    if len(documents) > 1:
        raise BadInput(f"{where}: expected one YAML document, found {len(documents)}")
    return Marked(documents[0] if documents else {}, text)


def invalid_yaml(exc: YAMLError, where: str) -> BadInput:
    """The one line for YAML that does not parse: ``FILE:LINE: invalid YAML: PROBLEM``."""
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark
        line = f"{mark.line + 1}" if mark is not None else ""
        return BadInput(f"{where}:{line}: invalid YAML: {exc.problem or str(exc).splitlines()[0]}")
    return BadInput(f"{where}: invalid YAML: {str(exc).splitlines()[0]}")


def _is_range(value: str) -> bool:
    return "-" in value and value.replace("-", "").isdigit()


def _quote_ranges(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _quote_ranges(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quote_ranges(v) for v in value]
    if isinstance(value, str) and _is_range(value):
        return DoubleQuotedScalarString(value)
    return value


def _dump_ruamel(data: dict[str, Any]) -> str:
    yaml = YAML(typ="rt", pure=True)
    yaml.indent(mapping=4, sequence=6, offset=4)
    yaml.width = 4096
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(_quote_ranges(data), out)
    return out.getvalue()


# Strings every YAML reader takes as plain strings, and ruamel writes unquoted: a word of
# letters, digits and ``._/-`` that starts with a letter (rule names, kinds, protocols), or
# a CIDR. Words that a YAML 1.1 reader takes as booleans or null are left to ruamel.
_PLAIN = re.compile(
    r"[A-Za-z][A-Za-z0-9._/-]{0,99}"  # a word
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}/[0-9]{1,2}"  # an IPv4 CIDR
    r"|[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){1,7}(?::[0-9]{1,3}(?:\.[0-9]{1,3}){3})?/[0-9]{1,3}"  # an IPv6 CIDR
)
_SPECIAL = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _Unusual(Exception):
    """A value ``_write`` leaves to ruamel."""


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        raise _Unusual
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = _string(value)
        if text is not None:
            return text
    raise _Unusual


# Names, kinds, protocols and the same CIDRs fill every document: each string is looked at once.
@functools.lru_cache(maxsize=4096)
def _string(value: str) -> str | None:
    """How ``_write`` writes the string ``value``, or None when ruamel must."""
    if _is_range(value):
        return f'"{value}"'
    if _PLAIN.fullmatch(value) and value.lower() not in _SPECIAL:
        return value
    return None


def _key(key: object) -> str:
    # Keys are never quoted as ranges (``_quote_ranges`` leaves them), so only plain words.
    if isinstance(key, str) and not _is_range(key):
        return _scalar(key)
    raise _Unusual


def _write(data: dict[str, Any], indent: str, lines: list[str]) -> None:
    """A block mapping at ``indent``: scalars, non-empty mappings, non-empty lists of
    scalars or of flat mappings, laid out as ruamel does with ``indent(4, 6, 4)``."""
    for key, value in data.items():
        name = _key(key)
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{name}:")
            _write(value, indent + "    ", lines)
        elif isinstance(value, list) and value:
            lines.append(f"{indent}{name}:")
            dash = indent + "    - "
            for item in value:
                if isinstance(item, dict) and item:
                    entries = [f"{_key(k)}: {_scalar(v)}" for k, v in item.items()]
                    lines.append(dash + entries[0])
                    lines.extend(indent + "      " + entry for entry in entries[1:])
                else:
                    lines.append(dash + _scalar(item))
        else:
            lines.append(f"{indent}{name}: {_scalar(value)}")


def dump(data: dict[str, Any]) -> str:
    """One document as YAML text, without ``---`` markers."""
    lines: list[str] = []
    try:
        _write(data, "", lines)
    except _Unusual:
        return _dump_ruamel(data)
    return "\n".join(lines) + "\n" if lines else _dump_ruamel(data)
