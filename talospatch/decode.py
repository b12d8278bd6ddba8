"""Checking YAML data by hand: plain data in, the first error out, naming the key it is about.

Talos's documents and the profiles are read on every ``gen``, so they (and the listener table
``audit`` reads) are frozen dataclasses checked here rather than pydantic models: building a
model class costs more than the rest of a ``gen``'s start-up. The cluster spec, read by
``build`` only, stays a pydantic model and reports a ``DecodeError`` inside it at the key's
own line. A node's ``talosctl get nftableschains`` output (``talospatch.nft.live``) is read
here too, naming list items by index (``spec.rules[0].verdict``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

Path = tuple[str | int, ...]
Choice = TypeVar("Choice", bound=str)

_READ_KEY: Any = object()  # ``Fields.choice``'s default: read the key's own value
_DIGITS = re.compile(r"\s*\d+\s*")


def dotted(path: Path, *, indexes: bool = False) -> str:
    """``("ingress", 0, "subnet")`` -> ``ingress.subnet``: list indexes are left out, or
    (``indexes``) shown as ``ingress[0].subnet``."""
    keys: list[str] = []
    for part in path:
        if not isinstance(part, int):
            keys.append(part)
        elif indexes:
            keys[-1:] = [f"{keys[-1] if keys else ''}[{part}]"]
    return ".".join(keys)


class DecodeError(ValueError):
    """The first thing wrong with the data: ``path`` is the keys and list indexes to it.

    ``unknown_key``: the last key of ``path`` is not one the mapping may have.
    """

    def __init__(self, path: Path, message: str, *, unknown_key: bool = False) -> None:
        self.path = path
        self.message = message
        self.unknown_key = unknown_key
        super().__init__(self.describe())

    def describe(self, skip: int = 0, *, indexes: bool = False) -> str:
        """The message, naming the key from ``path[skip:]`` on (with list ``indexes``)."""
        where = dotted(self.path[skip:], indexes=indexes)
        if self.unknown_key:
            return f"unknown key {where!r}"
        return f"{where}: {self.message}" if where else self.message


class Fields:
    """A mapping being read: the keys it may have, each read with the check its value needs.

    ``keys=None``: any key may be there (a mapping only some keys of which are read).
    """

    def __init__(self, data: object, path: Path, keys: Collection[str] | None) -> None:
        if not isinstance(data, Mapping):
            raise DecodeError(path, "must be a mapping of keys to values")
        for key in data:
            if keys is not None and key not in keys:
                raise DecodeError((*path, key), "unknown key", unknown_key=True)
        self.data: Mapping[str, Any] = data
        self.path = path

    def error(self, key: str | int, message: str) -> DecodeError:
        return DecodeError((*self.path, key), message)

    def get(self, key: str, default: Any = None) -> Any:
        """The value as written; ``default`` when the key is missing or null."""
        value = self.data.get(key)
        return default if value is None else value

    def required(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise self.error(key, "missing")
        return self.data[key]

    def text(self, key: str, *, required: bool = True) -> str:
        """A string; a required one must not be empty."""
        value = self.required(key) if required else self.get(key, "")
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        if required and not value:
            raise self.error(key, "must not be empty")
        return value

    def items(self, key: str, *, required: bool = False) -> list[Any]:
        """A list (a missing or null one is empty); a required one must have an item."""
        value = self.required(key) if required else self.get(key, [])
        if not isinstance(value, list | tuple):
            raise self.error(key, "must be a list, e.g. [a, b]")
        if required and not value:
            raise self.error(key, "must list at least one item")
        return list(value)

    def texts(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        """A list of strings; a required one must have an item."""
        values = self.items(key, required=required)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise DecodeError((*self.path, key, index), f"must be a string, not {value!r}")
        return tuple(values)

    def text_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings."""
        value = self.get(key, {})
        texts = isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        if not texts:
            raise self.error(key, "must be a mapping of names to text")
        return dict(value)

    def mapping(self, key: str, keys: Collection[str] | None, *, required: bool = False) -> Fields:
        """A nested mapping, read the same way; a missing or null one is empty."""
        value = self.required(key) if required else self.get(key, {})
        return Fields(value, (*self.path, key), keys)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {value!r}")
        return value

    def integer(self, key: str, low: int, high: int, *, from_text: bool = False) -> int:
        """A required integer ``low``-``high``; ``from_text``: digits in a string count too."""
        return _integer(self.required(key), (*self.path, key), low, high, from_text)

    def integers(self, key: str, low: int, high: int, *, from_text: bool = False) -> tuple[int, ...]:
        """A list of integers ``low``-``high`` (a missing or null one is empty)."""
        return tuple(
            _integer(value, (*self.path, key, index), low, high, from_text)
            for index, value in enumerate(self.items(key))
        )

    def choice(
        self, key: str, choices: tuple[Choice, ...], value: object = _READ_KEY, *, fold_case: bool = False
    ) -> Choice:
        """``value`` (this key's, or what it normalizes to) if it is one of ``choices``.

        Without ``value``, the key's own (null when missing); ``fold_case``: in any case.
        """
        value = self.get(key) if value is _READ_KEY else value
        return _choice(value, (*self.path, key), choices, fold_case)

    def choices(self, key: str, choices: tuple[Choice, ...], *, fold_case: bool = False) -> tuple[Choice, ...]:
        """A list of ``choices`` (a missing or null one is empty)."""
        return tuple(
            _choice(value, (*self.path, key, index), choices, fold_case) for index, value in enumerate(self.items(key))
        )


def _integer(value: object, path: Path, low: int, high: int, from_text: bool) -> int:
    if from_text and isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DecodeError(path, f"must be an integer {low}-{high}, not {value!r}")
    return value


def _choice(value: object, path: Path, choices: tuple[Choice, ...], fold_case: bool) -> Choice:
    folded = value.lower() if fold_case and isinstance(value, str) else value
    for choice in choices:
        if folded == choice:
            return choice
    raise DecodeError(path, f"must be {_one_of(choices)}, not {value!r}")


def _one_of(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
