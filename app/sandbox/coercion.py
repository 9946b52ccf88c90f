"""Field values of a write: which may be written, and JSON values coerced to the field's type."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from revflow.sandbox.ids import MalformedIdError, id_of_type
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.schema import SOBJECTS, Field, SfError, SObjectType
from revflow.sandbox.shapes import format_datetime, parse_datetime

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def validate(
    org: SandboxOrg, t: SObjectType, values: dict[str, Any], creating: bool
) -> dict[str, Any]:
    """The writable fields of a create or update body, coerced (or SfError)."""
    if not isinstance(values, dict):
        raise SfError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
    out: dict[str, Any] = {}
    readonly: list[str] = []
    for key, value in values.items():
        if key == "attributes":
            continue
        f = t.field(key)
        if f is None or org.lacks(t.name, f.name):
            raise SfError("INVALID_FIELD", f"No such column '{key}' on sobject of type {t.name}")
        writable = f.createable if creating else f.updateable
        if not writable or org.read_only(t.name, f.name):
            readonly.append(f.name)
            continue
        out[f.name] = coerce(org, f, value)
    if readonly:
        raise SfError(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {', '.join(readonly)}. Please check the security "
            "settings of this field and verify that it is read/write for your profile or "
            "permission set.",
            readonly,
        )
    return out


def coerce(org: SandboxOrg, f: Field, value: Any) -> Any:
    """A JSON value as the field stores it (or SfError, as Salesforce words it)."""
    if value is None:
        return None
    if f.type in ("string", "textarea", "url", "picklist"):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _parse_error(f, value)
        text = value if isinstance(value, str) else str(value)
        if len(text) > f.length:
            raise SfError(
                "STRING_TOO_LONG",
                f"{f.name}: data value too large: {text[:40]} (max length={f.length})",
                [f.name],
            )
        if f.restricted and text not in f.picklist:
            raise SfError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{f.name}: bad value for restricted picklist field: {text}",
                [f.name],
            )
        return text
    if f.type == "boolean":
        if not isinstance(value, bool):
            raise _parse_error(f, value)
        return value
    if f.type in ("double", "currency", "percent"):
        if isinstance(value, bool):
            raise _parse_error(f, value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _parse_error(f, value) from None
    if f.type == "date":
        if not isinstance(value, str) or not _DATE_RE.match(value):
            raise _parse_error(f, value)
        try:
            date.fromisoformat(value)
        except ValueError:
            raise _parse_error(f, value) from None
        return value
    if f.type == "datetime":
        try:
            return format_datetime(parse_datetime(str(value)).timestamp())
        except ValueError:
            raise _parse_error(f, value) from None
    if f.type == "reference":
        return _reference(org, f, value)
    raise _parse_error(f, value)


def _reference(org: SandboxOrg, f: Field, value: Any) -> str:
    target = f.reference_to or ""
    try:
        rid = id_of_type(value, target)
    except MalformedIdError:
        raise SfError(
            "MALFORMED_ID", f"{target} ID: id value of incorrect type: {value}", [f.name]
        ) from None
    if target in SOBJECTS:
        parent = org.records.setdefault(target, {}).get(rid)
        if parent is None:
            raise SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        if parent.get("IsDeleted"):
            raise SfError("ENTITY_IS_DELETED", "entity is deleted", [f.name])
    return rid


def _parse_error(f: Field, value: Any) -> SfError:
    token = (
        "VALUE_STRING"
        if isinstance(value, str)
        else "VALUE_TRUE"
        if value is True
        else "VALUE_FALSE"
        if value is False
        else "VALUE_NUMBER_INT"
        if isinstance(value, int)
        else "VALUE_NUMBER_FLOAT"
        if isinstance(value, float)
        else "START_OBJECT"
        if isinstance(value, dict)
        else "START_ARRAY"
    )
    kind = {
        "currency": "double",
        "percent": "double",
        "textarea": "string",
        "url": "string",
        "picklist": "string",
        "reference": "reference",
        "datetime": "datetime",
    }.get(f.type, f.type)
    return SfError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {token} value {value} or request may be "
        "missing a required field",
    )
