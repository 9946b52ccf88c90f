"""Failed steps grouped by error: pure.

Errors that differ only in ids, numbers, URLs or single-quoted values are one class:
the message with those parts replaced (``HTTP 422: item 8015e00000Q7mNp not found`` and the same
for another item group together), prefixed by the step's kind and connector.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

_QUOTED = re.compile(r"'[^']*'")
_URL = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s:/]+(:\d+)?(/[^\s:]*)?")
_ID = re.compile(r"\b[A-Za-z0-9]{15,18}\b|\b[0-9a-f]{8}-[0-9a-f-]{27}\b")
_NUMBER = re.compile(r"\b\d+(\.\d+)?\b")
MAX_CLASS = 160


class FailedStep(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def error(self) -> str | None: ...


T = TypeVar("T", bound=FailedStep)


def error_class(message: str | None) -> str:
    """The message with variable parts replaced; ``(no error text)`` if empty."""
    if not message or not message.strip():
        return "(no error text)"
    text = _URL.sub("<url>", message.strip().splitlines()[0])
    text = _QUOTED.sub("'…'", text)
    text = _ID.sub("<id>", text)
    text = _NUMBER.sub("<n>", text)
    # an HTTP status is part of the class, not a variable
    text = re.sub(r"HTTP <n>", lambda _m: _status(message), text)
    return text[:MAX_CLASS]


def _status(message: str) -> str:
    found = re.search(r"HTTP (\d{3})", message)
    return f"HTTP {found.group(1)}" if found else "HTTP"


@dataclass
class Group(Generic[T]):
    error_class: str
    items: list[T] = field(default_factory=list)


def group_by_error(items: Iterable[T]) -> list[Group[T]]:
    """Groups, largest first (then by class), items in their given order."""
    groups: dict[str, Group[T]] = {}
    for item in items:
        key = f"{item.kind}: {error_class(item.error)}"
        groups.setdefault(key, Group(key)).items.append(item)
    return sorted(groups.values(), key=lambda g: (-len(g.items), g.error_class))
