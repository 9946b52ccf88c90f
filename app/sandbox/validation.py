"""Validation rules the sandbox org enforces, as an admin would set them up.

A rule refuses a write that sets ``field`` (to ``value``, when given) on an
``sobject`` record (only the listed ``records``, when given) with
``FIELD_CUSTOM_VALIDATION_EXCEPTION`` and the rule's ``message``, the way
Salesforce does: a per-record error ``{"statusCode", "message", "fields"}``, where
``fields`` is empty when the rule shows its message at the top of the page and
names the field when it shows it beside the field (``show_at_field``).

Like a rule written as ``ISCHANGED(Fulfillment_Status__c) && Fulfillment_Status__c
= 'Completed'``, it looks only at the values the write sets, so an update of other
fields of the same record passes.

Set through ``/_sandbox/faults`` as ``{"validation_rules": [{"field": ...,
"value": ..., "records": [...], "message": ...}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as default
from typing import Any

from revflow.sandbox.schema import SfError

CODE = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
DEFAULT_MESSAGE = "Fulfillment cannot be completed while the order is under credit review"
_KEYS = ("sobject", "field", "value", "records", "message", "show_at_field")


@dataclass
class ValidationRule:
    field: str
    value: Any = None  # None: any value set
    sobject: str = "Order"
    records: list[str] = default(default_factory=list)  # empty: every record
    message: str = DEFAULT_MESSAGE
    show_at_field: bool = False

    def refuses(self, sobject: str, record_id: str | None, values: Mapping[str, Any]) -> bool:
        if sobject != self.sobject or self.field not in values:
            return False
        if self.value is not None and values[self.field] != self.value:
            return False
        if self.records:
            return record_id is not None and record_id[:15] in {r[:15] for r in self.records}
        return True

    def error(self) -> SfError:
        return SfError(CODE, self.message, [self.field] if self.show_at_field else [])


def check(
    rules: list[ValidationRule], sobject: str, record_id: str | None, values: Mapping[str, Any]
) -> SfError | None:
    """The error of the first rule that refuses this write, if any."""
    for rule in rules:
        if rule.refuses(sobject, record_id, values):
            return rule.error()
    return None


def parse_rules(value: Any) -> list[ValidationRule]:
    """Rules from JSON; ``ValueError`` naming the bad entry."""
    if not isinstance(value, list):
        raise ValueError(f"validation_rules must be a list of rules, not {value!r}")
    rules = []
    for n, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("field"), str):
            raise ValueError(f"validation_rules[{n}]: want {{'field': NAME, ...}}, got {raw!r}")
        unknown = set(raw) - set(_KEYS)
        if unknown:
            raise ValueError(
                f"validation_rules[{n}]: unknown key(s) {', '.join(sorted(unknown))} "
                f"(expected: {', '.join(_KEYS)})"
            )
        records = raw.get("records", [])
        if not isinstance(records, list) or not all(isinstance(r, str) for r in records):
            raise ValueError(f"validation_rules[{n}]: records must be a list of ids")
        rules.append(ValidationRule(**raw))
    return rules
