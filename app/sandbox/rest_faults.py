"""Injected write faults: lock contention, per-record errors and the org's validation rules."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.schema import SfError, SObjectType
from revflow.sandbox.validation import check as validation_error


def lock_fault(org: SandboxOrg, record_id: str | None) -> None:
    """Maybe raise UNABLE_TO_LOCK_ROW for a write touching ``record_id``."""
    share = org.faults.unable_to_lock_row
    if record_id and share > 0 and random.random() < share:
        org.note_fault("unable_to_lock_row")
        raise SfError(
            "UNABLE_TO_LOCK_ROW",
            f"unable to obtain exclusive access to this record or 1 records: {record_id}",
        )


def write_faults(
    org: SandboxOrg, sobject: str, record_id: str | None, values: Mapping[str, Any] | None = None
) -> None:
    """The injected per-record error for this write, if any, then the org's validation
    rules."""
    refused = validation_error(org.faults.validation_rules, sobject, record_id, values or {})
    if refused is not None:
        org.note_fault("writeback_refused")
        raise refused
    errors = org.faults.record_errors
    if errors:
        keys = {"*", sobject}
        if record_id:
            keys.add(record_id[:15])
        for value in (values or {}).values():
            if isinstance(value, str) and len(value) in (15, 18):
                keys.add(value[:15])
        for key, code in errors.items():
            if key in keys or (len(key) in (15, 18) and key[:15] in keys):
                org.note_fault(code.lower())
                raise injected_error(code, sobject, record_id)


def lock_target(t: SObjectType, values: Mapping[str, Any]) -> str | None:
    """The parent row a create would lock (first reference value given)."""
    for key, value in values.items():
        f = t.field(key) if key != "attributes" else None
        if f is not None and f.type == "reference" and isinstance(value, str):
            return value
    return None


_INJECTED: dict[str, tuple[str, int]] = {
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": (
        "Fulfillment updates are blocked while the order is under credit review",
        400,
    ),
    "INVALID_FIELD": ("No such column 'Injected__c' on sobject of type {sobject}", 400),
    "INVALID_FIELD_FOR_INSERT_UPDATE": (
        "Unable to create/update fields: Injected__c. Please check the security settings of "
        "this field and verify that it is read/write for your profile or permission set.",
        400,
    ),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": (
        "Status: bad value for restricted picklist field: Injected",
        400,
    ),
    "STRING_TOO_LONG": ("Description: data value too large: Injected (max length=255)", 400),
    "REQUIRED_FIELD_MISSING": ("Required fields are missing: [Injected__c]", 400),
    "DUPLICATE_VALUE": ("duplicate value found: Injected__c duplicates value on record", 400),
    "MALFORMED_ID": ("{sobject} ID: id value of incorrect type", 400),
    "UNABLE_TO_LOCK_ROW": (
        "unable to obtain exclusive access to this record or 1 records: {record_id}",
        400,
    ),
    "ENTITY_IS_DELETED": ("entity is deleted", 404),
}


def injected_error(code: str, sobject: str, record_id: str | None) -> SfError:
    """The error Salesforce would give for ``code`` (wire facts 4.3), with its fields."""
    template, status = _INJECTED.get(code, (f"{code} (injected by the sandbox)", 400))
    message = template.format(sobject=sobject, record_id=record_id or "")
    fields: list[str] = []
    if code in ("INVALID_FIELD_FOR_INSERT_UPDATE", "REQUIRED_FIELD_MISSING"):
        fields = ["Injected__c"]
    elif code == "STRING_TOO_LONG":
        fields = ["Description"]
    elif code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST":
        fields = ["Status"]
    return SfError(code, message, fields, status=status)
