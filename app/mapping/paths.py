"""Source paths (`Account.Name`, `$.CurrencyIsoCode`) and the scope they resolve in."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Getter", "PathRef", "Scope", "parse_path", "path_getter"]

ROOT_PREFIX = "$."
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(slots=True)
class Scope:
    """Where paths resolve: `item` for relative paths, `root` for `$.` paths.

    Treat as immutable; not frozen because one is built per list item and a frozen
    dataclass's __init__ costs about three times as much.
    """

    root: Any
    item: Any


@dataclass(frozen=True, slots=True)
class PathRef:
    """A compiled dotted path; a missing key or a null parent yields None."""

    text: str
    parts: tuple[str, ...]
    absolute: bool = False

    def get(self, scope: Scope) -> Any:
        current = scope.root if self.absolute else scope.item
        for part in self.parts:
            if type(current) is dict or isinstance(current, Mapping):
                current = current.get(part)
            else:
                return None
        return current

    def __str__(self) -> str:
        return self.text


Getter = Callable[[Scope], Any]


def path_getter(path: PathRef) -> Getter:
    """A function equivalent to `path.get`, specialised for one- and two-part paths.

    Records are plain dicts almost always, so a dict is tested by exact type first.
    """
    if len(path.parts) == 1:
        (first,) = path.parts

        def one(scope: Scope) -> Any:
            current = scope.root if absolute else scope.item
            if type(current) is dict or isinstance(current, Mapping):
                return current.get(first)
            return None

        absolute = path.absolute
        return one
    if len(path.parts) == 2:
        first, second = path.parts

        def two(scope: Scope) -> Any:
            current = scope.root if absolute else scope.item
            if type(current) is dict or isinstance(current, Mapping):
                current = current.get(first)
                if type(current) is dict or isinstance(current, Mapping):
                    return current.get(second)
            return None

        absolute = path.absolute
        return two
    return path.get


def parse_path(text: str) -> PathRef:
    """Compile `A.B.C` (relative to the current item) or `$.A.B` (relative to the record).

    Raises ValueError with a readable reason when the path is malformed.
    """
    body, absolute = text, False
    if text.startswith(ROOT_PREFIX):
        body, absolute = text[len(ROOT_PREFIX) :], True
    parts = tuple(body.split("."))
    bad = [p for p in parts if not _SEGMENT.match(p)]
    if not body or bad:
        raise ValueError(
            f"invalid path '{text}': use dotted field names like Account.Name "
            "(prefix with '$.' to start from the record root)"
        )
    return PathRef(text, parts, absolute)
