"""Field history of the sandbox org's records, as Salesforce's field history tracking keeps.

Every committed update of a field appends one ``FieldChange`` stamped with the
transaction's commit time, so a test or the demo can measure what happened to a
record when, from the org's own clock (e.g. Status -> Activated to
Fulfillment_Status__c -> Completed), not from when someone looked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# system fields that change on every update and say nothing about the record
_SYSTEM = frozenset({"LastModifiedDate", "LastModifiedById", "SystemModstamp"})


@dataclass(frozen=True)
class FieldChange:
    sobject: str
    record_id: str
    field: str
    old: Any
    new: Any
    at: float  # the commit's time, seconds since the epoch


class FieldHistory:
    """The changes of every record, oldest first."""

    def __init__(self) -> None:
        self.changes: list[FieldChange] = []
        # by (sobject, record id, field): a report over 10,000 orders reads each once
        self._by_field: dict[tuple[str, str, str], list[FieldChange]] = {}

    def record(
        self, sobject: str, record_id: str, before: dict[str, Any], after: dict[str, Any], at: float
    ) -> None:
        for name, value in after.items():
            if name not in _SYSTEM and before.get(name) != value:
                change = FieldChange(sobject, record_id, name, before.get(name), value, at)
                self.changes.append(change)
                self._by_field.setdefault((sobject, record_id, name), []).append(change)

    def of(self, sobject: str, record_id: str, field: str) -> list[FieldChange]:
        return list(self._by_field.get((sobject, record_id, field), ()))

    def first_set(
        self, sobject: str, record_id: str, field: str, value: Any, after: float = 0.0
    ) -> float | None:
        """When ``field`` first became ``value`` at or after ``after``, or ``None``."""
        for change in self.of(sobject, record_id, field):
            if change.new == value and change.at >= after:
                return change.at
        return None
