"""What changed between two revisions of an order: pure, on the snapshot records.

Fields are compared by dotted path (``OrderItems.records.0.Quantity``); the answer
lists each added, removed or changed path with the old and new value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

IGNORED = frozenset({"attributes", "LastModifiedDate", "SystemModstamp"})


@dataclass(frozen=True)
class FieldChange:
    path: str
    change: str  # added | removed | changed
    old: Any
    new: Any


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k not in IGNORED:
                _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}.{i}", out)
    else:
        out[prefix] = value


def diff_records(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """Changed leaves between two records, sorted by path."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    changes: list[FieldChange] = []
    for path in sorted(a.keys() | b.keys()):
        if path not in b:
            changes.append(FieldChange(path, "removed", a[path], None))
        elif path not in a:
            changes.append(FieldChange(path, "added", None, b[path]))
        elif a[path] != b[path]:
            changes.append(FieldChange(path, "changed", a[path], b[path]))
    return changes
