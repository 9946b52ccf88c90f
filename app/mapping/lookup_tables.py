"""Static lookup tables (top-level `lookups:` and the `map` transform) and their string keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from revflow.mapping.errors import TransformError

__all__ = ["MISSING", "LookupTable", "lookup_key"]

MISSING = object()  # a table without a default raises for unknown keys


@dataclass(frozen=True, slots=True)
class LookupTable:
    """A static table declared under top-level `lookups:`; keys are strings."""

    name: str
    values: Mapping[str, Any]
    default: Any = MISSING

    def get(self, value: Any) -> Any:
        key = lookup_key(value)
        if key in self.values:
            return self.values[key]
        if self.default is not MISSING:
            return self.default
        raise TransformError(f"{value!r} is not in lookup '{self.name}'")


def lookup_key(value: Any) -> str:
    """The string key a record value is looked up by (`true`, `42`, `DE`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
