"""Record shapes: REST and change-event forms of a stored record, and datetimes.

Records are kept as flat dicts with datetimes in REST form
``2026-01-01T12:00:00.000+0000``; change events carry ``...Z`` datetimes and nest
compound (address) fields.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any

from revflow.sandbox.schema import ADDRESS_COMPONENTS, SOBJECTS, Field, SObjectType, cdc_field_names

_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)


def format_datetime(ts: float) -> str:
    """Epoch seconds to REST form ``2026-01-01T12:00:00.000+0000``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def parse_datetime(value: str) -> datetime:
    """Parse REST/ISO datetimes (``Z``, ``+0000``, ``+00:00``, optional fraction)."""
    m = _DT_RE.match(value)
    if not m:
        raise ValueError(value)
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        dt = datetime.fromtimestamp(dt.timestamp() - offset * 60, UTC)
    return dt


@functools.lru_cache(maxsize=4096)  # a commit's records share its few timestamps
def to_cdc_datetime(rest_value: str) -> str:
    """``2026-01-01T12:00:00.000+0000`` → ``2026-01-01T12:00:00.000Z``."""
    return format_datetime(parse_datetime(rest_value).timestamp()).replace("+0000", "Z")


def _cdc_value(f: Field, value: Any) -> Any:
    if value is not None and f.type == "datetime":
        return to_cdc_datetime(value)
    return value


def cdc_record(sobj: str, record: dict[str, Any], drop_empty: bool) -> dict[str, Any]:
    """Record state as change-event body fields (compounds nested, ``...Z`` datetimes)."""
    t = SOBJECTS[sobj]
    out: dict[str, Any] = {}
    for name in cdc_field_names(sobj):
        f = t.fields[name]
        if f.type == "address":
            prefix = name.removesuffix("Address")
            parts = {c: record.get(prefix + c) for c in ADDRESS_COMPONENTS}
            if drop_empty:
                parts = {k: v for k, v in parts.items() if v not in (None, "")}
            value: Any = parts if any(v is not None for v in parts.values()) else None
        else:
            value = _cdc_value(f, record.get(name))
        if drop_empty and value in (None, ""):
            continue
        out[name] = value
    return out


def changed_fields(
    sobj: str, before: dict[str, Any], after: dict[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    """changedFields and the CometD UPDATE body (changed fields only, nulls kept)."""
    t = SOBJECTS[sobj]
    names: list[str] = []
    body: dict[str, Any] = {}
    for name in cdc_field_names(sobj):
        f = t.fields[name]
        if name == "LastModifiedDate":
            continue  # always present on an UPDATE; added below when something changed
        if f.type == "address":
            prefix = name.removesuffix("Address")
            parts = {
                c: after.get(prefix + c)
                for c in ADDRESS_COMPONENTS
                if before.get(prefix + c) != after.get(prefix + c)
            }
            if parts:
                names.extend(f"{name}.{c}" for c in parts)
                body[name] = parts
        elif before.get(name) != after.get(name):
            names.append(name)
            body[name] = _cdc_value(f, after.get(name))
    if names and after.get("LastModifiedDate"):
        names.append("LastModifiedDate")
        body["LastModifiedDate"] = to_cdc_datetime(after["LastModifiedDate"])
    return names, body


def rest_record(
    t: SObjectType, record: dict[str, Any], names: list[str], version: str
) -> dict[str, Any]:
    """A record as REST returns it: attributes, then the named fields."""
    out: dict[str, Any] = {"attributes": record_attributes(t.name, record["Id"], version)}
    for name in names:
        out[name] = rest_value(t, name, record)
    return out


def rest_value(t: SObjectType, name: str, record: dict[str, Any]) -> Any:
    f = t.fields[name]
    if f.type == "address":
        prefix = name.removesuffix("Address")
        parts = {c[0].lower() + c[1:]: record.get(prefix + c) for c in ADDRESS_COMPONENTS}
        return parts if any(v is not None for v in parts.values()) else None
    return record.get(name)


def record_attributes(sobj: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": sobj, "url": f"/services/data/v{version}/sobjects/{sobj}/{record_id}"}
