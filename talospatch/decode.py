"""Checking YAML data by hand: plain data in, the first error out, naming the key it is about.

Talos's documents and the profiles are read on every ``gen``, so they (and the listener table
``audit`` reads) are frozen dataclasses checked here rather than pydantic models: building a
model class costs more than the rest of a ``gen``'s start-up. The cluster spec, read by
``build`` only, stays a pydantic model and reports a ``DecodeError`` inside it at the key's
own line.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

Path = tuple[str | int, ...]
Choice = TypeVar("Choice", bound=str)


def dotted(path: Path) -> str:
    """``("ingress", 0, "subnet")`` -> ``ingress.subnet``: list indexes are left out."""
    return ".".join(str(part) for part in path if not isinstance(part, int))


class DecodeError(ValueError):
    """The first thing wrong with the data: ``path`` is the keys and list indexes to it.

    ``unknown_key``: the last key of ``path`` is not one the mapping may have.
    """

    def __init__(self, path: Path, message: str, *, unknown_key: bool = False) -> None:
        self.path = path
        self.message = message
        self.unknown_key = unknown_key
        super().__init__(self.describe())

    def describe(self, skip: int = 0) -> str:
        """The message, naming the key from ``path[skip:]`` on."""
        where = dotted(self.path[skip:])
        if self.unknown_key:
            return f"unknown key {where!r}"
        return f"{where}: {self.message}" if where else self.message


class Fields:
    """A mapping being read: the keys it may have, each read with the check its value needs."""

    def __init__(self, data: object, path: Path, keys: Collection[str]) -> None:
        if not isinstance(data, Mapping):
            raise DecodeError(path, "must be a mapping of keys to values")
        for key in data:
            if key not in keys:
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

    def choice(self, key: str, choices: tuple[Choice, ...], value: object) -> Choice:
        """``value`` (this key's, or what it normalizes to) if it is one of ``choices``."""
        for choice in choices:
            if value == choice:
                return choice
        raise self.error(key, f"must be {_one_of(choices)}, not {value!r}")


def _one_of(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
