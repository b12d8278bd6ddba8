"""talhelper's reading of an ``@file`` patch, as its sources define it: an independent reader.

talhelper v3.1 (budimanjojo/talhelper, ``pkg/patcher/patcher.go``, ``PatchesPatcher``) reads a
patch file in three steps before Talos's ``configpatcher.LoadPatches`` gets it:

1. ``templating.RenderTemplate`` (``pkg/templating/template.go``): Go's text/template with
   sprig. ``render_template`` here knows text and string-literal actions (``{{"{{"}}``), all
   a file of talospatch's holds; any other action is refused, so a test cannot pass by
   skipping one.
2. ``substitute.SubstituteEnvFromByte`` (``pkg/substitute/envsubst.go``): the YAML is decoded
   and encoded again without its comments (``stripYamlComment``) ...
3. ... then ``envsubst.BytesRestricted(filtered, true, true)``: a8m/envsubst v1.4.3 with
   no-unset and no-empty. ``envsubst`` here is a port of its lexer (``parse/lex.go``), parser
   (``parse/parse.go``) and nodes (``parse/node.go``), state for state.

``talhelper_documents`` runs the three and parses the result as Talos would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from talospatch.yamlio import dump, load_all


class EnvsubstError(Exception):
    """What envsubst returns as an error (talhelper stops there)."""


class UnsupportedTemplate(Exception):
    """A template action this reader does not evaluate."""


# --------------------------------------------------------------------------------------
# envsubst: parse/lex.go


class Item(IntEnum):
    # The order of lex.go's constants: ``eof = -1`` takes iota 0, so itemError is 1.
    ERROR = 1
    EOF = 2
    TEXT = 3
    PLUS = 4
    DASH = 5
    EQUALS = 6
    COLON_EQUALS = 7
    COLON_DASH = 8
    COLON_PLUS = 9
    VARIABLE = 10
    LEFT_DELIM = 11
    RIGHT_DELIM = 12


EOF = ""
State = Callable[["_Lexer"], "State | None"]


def _alphanumeric(r: str) -> bool:
    return r == "_" or r.isalpha() or r.isdecimal()  # unicode.IsLetter, unicode.IsDigit


def _end_of_line(r: str) -> bool:
    return r in ("\r", "\n")


@dataclass
class _Lexer:
    text: str
    pos: int = 0
    start: int = 0
    width: int = 0
    last_pos: int = 0
    depth: int = 0
    items: list[tuple[Item, str]] = field(default_factory=list)

    def next(self) -> str:
        if self.pos >= len(self.text):
            self.width = 0
            return EOF
        self.width = 1
        self.pos += 1
        return self.text[self.pos - 1]

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        self.pos -= self.width

    def emit(self, kind: Item) -> None:
        self.items.append((kind, self.text[self.start : self.pos]))
        self.last_pos = self.start
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def error(self, message: str) -> None:
        self.items.append((Item.ERROR, message))


def _lex_text(lexer: _Lexer) -> State | None:
    while True:
        r = lexer.next()
        if r == "$":
            lexer.pos -= 1
            if lexer.pos > lexer.start:
                lexer.emit(Item.TEXT)
            lexer.pos += 1
            following = lexer.peek()
            if following == "$":  # "$$": drop the first, the second is text
                lexer.ignore()
                lexer.next()
                lexer.emit(Item.TEXT)
            elif following == "{":
                lexer.next()
                lexer.depth += 1
                lexer.emit(Item.LEFT_DELIM)
                return _lex_substitution_operator
            elif _alphanumeric(following):
                return _lex_variable
        elif r == EOF:
            break
    if lexer.pos > lexer.start:
        lexer.emit(Item.TEXT)
    lexer.emit(Item.EOF)
    return None


def _lex_variable(lexer: _Lexer) -> State | None:
    while True:
        if not _alphanumeric(lexer.next()):
            lexer.backup()
            break
    if lexer.text[lexer.start : lexer.pos] in ("_", "$_"):
        return _lex_text
    lexer.emit(Item.VARIABLE)
    return _lex_substitution_operator if lexer.depth > 0 else _lex_text


def _after_brace(lexer: _Lexer, r: str) -> bool:
    return _alphanumeric(r) and lexer.text[lexer.last_pos :].startswith("${")


def _ends(lexer: _Lexer, r: str) -> bool:
    """The start both substitution states share: "}" closes, the line's end is an error."""
    if r == "}":
        lexer.depth -= 1
        lexer.emit(Item.RIGHT_DELIM)
        return True
    if r == EOF or _end_of_line(r):
        lexer.error("closing brace expected")
        return True
    return False


def _after_end(lexer: _Lexer) -> State | None:
    return None if lexer.items[-1][0] == Item.ERROR else _lex_text


def _lex_substitution_operator(lexer: _Lexer) -> State | None:
    r = lexer.next()
    if _ends(lexer, r):
        return _after_end(lexer)
    if _after_brace(lexer, r):
        return _lex_variable
    if r in "+-=":
        lexer.emit({"+": Item.PLUS, "-": Item.DASH, "=": Item.EQUALS}[r])
    elif r == ":":
        second = lexer.next()
        operators = {"-": Item.COLON_DASH, "=": Item.COLON_EQUALS, "+": Item.COLON_PLUS}
        if second in operators and second != EOF:
            lexer.emit(operators[second])
    return _lex_substitution


def _lex_substitution(lexer: _Lexer) -> State | None:
    r = lexer.next()
    if _ends(lexer, r):
        return _after_end(lexer)
    if _after_brace(lexer, r) or r == "$":
        return _lex_variable
    lexer.emit(Item.TEXT)
    return _lex_substitution


def lex(text: str) -> list[tuple[Item, str]]:
    lexer = _Lexer(text)
    state: State | None = _lex_text
    while state is not None:
        state = state(lexer)
    return lexer.items


# --------------------------------------------------------------------------------------
# envsubst: parse/node.go and parse/parse.go


@dataclass(frozen=True)
class _Variable:
    name: str
    env: Mapping[str, str]

    def is_set(self) -> bool:
        return self.name in self.env

    def value(self) -> str:  # no-unset and no-empty, as talhelper sets them
        if not self.is_set():
            raise EnvsubstError(f"variable ${{{self.name}}} not set")
        value = self.env[self.name]
        if value == "":
            raise EnvsubstError(f"variable ${{{self.name}}} set but empty")
        return value


@dataclass
class _Text:
    text: str

    def value(self) -> str:
        return self.text


@dataclass(frozen=True)
class _Substitution:
    operator: int
    variable: _Variable
    default: _Variable | _Text | None

    def value(self) -> str:
        if self.operator >= Item.PLUS and self.default is not None:
            if self.operator in (Item.COLON_DASH, Item.COLON_EQUALS):
                try:
                    own = self.variable.value()
                except EnvsubstError:  # node.go ignores the error of this lookup
                    own = ""
                return own if own != "" else self.default.value()
            if self.operator in (Item.PLUS, Item.COLON_PLUS):
                return self.default.value() if self.variable.is_set() else ""
            if not self.variable.is_set():
                return self.default.value()
        return self.variable.value()


Node = _Variable | _Text | _Substitution


def envsubst(text: str, env: Mapping[str, str]) -> str:
    """a8m/envsubst's ``BytesRestricted(text, true, true)`` (Quick mode: the first error)."""
    items = lex(text)
    index = 0

    def next_item() -> tuple[Item, str]:
        nonlocal index
        if index >= len(items):
            raise AssertionError("read past the lexer's last item")
        index += 1
        return items[index - 1]

    def peek() -> Item:
        return items[index][0] if index < len(items) else Item.EOF

    def action() -> _Substitution:
        variable = _Variable(next_item()[1], env)
        operator = 0
        default: _Variable | _Text | None = None
        while True:
            kind, value = next_item()
            if kind == Item.RIGHT_DELIM:
                return _Substitution(operator, variable, default)
            if kind == Item.ERROR:
                raise EnvsubstError(value)
            if kind == Item.VARIABLE:
                default = _Variable(value.removeprefix("$"), env)
            elif kind == Item.TEXT:
                node = _Text(value)
                while peek() not in (Item.RIGHT_DELIM, Item.ERROR, Item.EOF):
                    node.text += next_item()[1]
                default = node
            else:
                operator = kind

    nodes: list[Node] = []
    while True:
        kind, value = next_item()
        if kind == Item.EOF:
            break
        if kind == Item.ERROR:
            raise EnvsubstError(value)
        if kind == Item.VARIABLE:
            nodes.append(_Variable(value.removeprefix("$"), env))
        elif kind == Item.LEFT_DELIM and peek() == Item.VARIABLE:
            nodes.append(action())
        else:
            nodes.append(_Text(value))
    return "".join(node.value() for node in nodes)


# --------------------------------------------------------------------------------------
# The template step and the whole reading


def render_template(text: str) -> str:
    """Go's text/template over ``text``, for text and ``{{"..."}}`` actions only."""
    out: list[str] = []
    rest = text
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        body, closed, rest = after.partition("}}")
        if not closed:
            raise UnsupportedTemplate("unclosed action")
        literal = body.strip()
        if not (len(literal) >= 2 and literal[0] == literal[-1] == '"' and "\\" not in literal):
            raise UnsupportedTemplate(f"{{{{{body}}}}}")
        out += [before, json.loads(literal)]
    return "".join([*out, rest])


def strip_comments(text: str) -> str:
    """The documents again without comments (talhelper's ``stripYamlComment`` decodes and
    encodes them; the bytes differ from yaml.v3's, the documents do not)."""
    documents = load_all(text, "talhelper")
    if not all(isinstance(d, dict) for d in documents):
        raise AssertionError("a patch document that is not a mapping")
    return "---\n".join(dump(d) for d in documents)


def talhelper_text(text: str, env: Mapping[str, str]) -> str:
    """What talhelper hands to ``configpatcher.LoadPatches`` for a file holding ``text``."""
    return envsubst(strip_comments(render_template(text)), env)


def talhelper_documents(text: str, env: Mapping[str, str]) -> list[Any]:
    return load_all(talhelper_text(text, env), "talhelper")
