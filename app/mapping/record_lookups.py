"""Cached lookups of other Salesforce records (top-level `record_lookups:`).

Evaluation stays pure: the I/O side (revflow.salesforce.lookups) fetches the records
named by `lookup_keys` and stores them in `record["__lookups__"][name][key]`;
`LookupSource` only reads them from there.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any

from revflow.mapping.paths import PathRef, Scope

__all__ = [
    "LOOKUPS_KEY",
    "LookupRequest",
    "LookupSource",
    "LookupUse",
    "RecordLookup",
    "lookup_keys",
]

LOOKUPS_KEY = "__lookups__"


@dataclass(frozen=True, slots=True)
class RecordLookup:
    """One `record_lookups:` entry: fetch `fields` of the `sobject` whose `match` = key."""

    name: str
    sobject: str
    match: str
    key: PathRef
    fields: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class LookupUse:
    """Where a lookup is read: `base` is the list path of the enclosing `each` (or ())."""

    name: str
    base: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """One record to fetch: `sobject` where `match` = `key_value`, with `fields`."""

    sobject: str
    match: str
    key_value: str
    fields: tuple[str, ...]


def key_text(value: Any) -> str:
    """How key values are written in `__lookups__` (JSON object keys are text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class LookupSource:
    """A field source `{lookup_record: name, field: F}`; null when the record is missing."""

    lookup: RecordLookup
    field: PathRef

    def key(self, scope: Scope) -> Any:
        return self.lookup.key.get(scope)

    def get(self, scope: Scope) -> Any:
        key = self.key(scope)
        if key is None:
            return None
        root = scope.root if isinstance(scope.root, AbcMapping) else {}
        table = (root.get(LOOKUPS_KEY) or {}).get(self.lookup.name) or {}
        row = table.get(key_text(key)) if isinstance(table, AbcMapping) else None
        return self.field.get(Scope(row, row)) if isinstance(row, AbcMapping) else None

    def missing(self, scope: Scope) -> str:
        """What was missing, with the key value, for `required` errors."""
        key = self.key(scope)
        where = f"{self.lookup.key} is null" if key is None else f"key {key_text(key)!r}"
        return f"{self} ({where})"

    def __str__(self) -> str:
        return f"lookup_record {self.lookup.name}.{self.field}"


def _items(record: Any, base: tuple[str, ...]) -> list[Any]:
    """The items a path in `base` scope is relative to (lists are walked into)."""
    values = [record]
    for part in base:
        found: list[Any] = []
        for value in values:
            got = value.get(part) if isinstance(value, AbcMapping) else None
            if isinstance(got, list | tuple):
                found.extend(got)
            elif got is not None:
                found.append(got)
        values = found
    return values


def lookup_keys(
    lookups: Iterable[RecordLookup], uses: Iterable[LookupUse], record: Any
) -> list[tuple[RecordLookup, str]]:
    """Every (lookup, key value) a record needs, deduplicated; null keys are skipped."""
    by_name = {lookup.name: lookup for lookup in lookups}
    out: dict[tuple[str, str], tuple[RecordLookup, str]] = {}
    if not isinstance(record, AbcMapping):
        return []
    for use in uses:
        lookup = by_name.get(use.name)
        if lookup is None:
            continue
        base = () if lookup.key.absolute else use.base
        for item in _items(record, base):
            value = lookup.key.get(Scope(record, item))
            if value is None or isinstance(value, dict | list):
                continue
            text = key_text(value)
            out.setdefault((lookup.name, text), (lookup, text))
    return list(out.values())
