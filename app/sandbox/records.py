"""Record storage on top of ``SandboxOrg.records``: writes, validation, change events.

Every write runs in a ``Transaction`` (one per REST request).  Records are kept as
flat dicts (datetimes in REST form ``2026-01-01T12:00:00.000+0000``, dates
``2026-01-01``); deleted records stay with ``IsDeleted`` true (the Recycle Bin).  On
commit, each CDC-enabled record touched in the transaction yields one change event
on ``/data/{Entity}ChangeEvent``, shaped like a CometD delivery body.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from revflow.sandbox.chaos import Pending, apply_change_chaos
from revflow.sandbox.ids import MalformedIdError, id_of_type, is_valid_id, new_id, to18
from revflow.sandbox.org import INTEGRATION_USER_ID, SandboxOrg
from revflow.sandbox.schema import (
    ADDRESS_COMPONENTS,
    PLATFORM_EVENTS,
    ROLLUPS,
    SOBJECTS,
    Field,
    SfError,
    SObjectType,
    cdc_field_names,
    change_event_channel,
    platform_event,
    schema_id,
    sobject,
)

T = TypeVar("T")
_commit_numbers = itertools.count(1_124_589_736_215 + int(time.time()) % 1_000_000 * 1000)
_DT_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header"
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


def to_cdc_datetime(rest_value: str) -> str:
    """``2026-01-01T12:00:00.000+0000`` → ``2026-01-01T12:00:00.000Z``."""
    return format_datetime(parse_datetime(rest_value).timestamp()).replace("+0000", "Z")


@dataclass
class _Change:
    sobject: str
    record_id: str
    kind: str  # CREATE / UPDATE / DELETE / UNDELETE
    before: dict[str, Any] | None


@dataclass
class Transaction:
    """One database transaction: who, from where, when, and how to undo it."""

    user_id: str
    origin: str
    timestamp: float
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    changes: list[_Change] = field(default_factory=list)
    undo: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def stamp(self) -> str:
        return format_datetime(self.timestamp)

    def savepoint(self) -> tuple[int, int]:
        return len(self.undo), len(self.changes)


class RecordStore:
    """Create/update/delete/undelete records of a ``SandboxOrg`` and emit change events."""

    def __init__(self, org: SandboxOrg) -> None:
        self.org = org

    # ---- transactions -------------------------------------------------------------
    def begin(self, user_id: str = INTEGRATION_USER_ID, origin: str = "") -> Transaction:
        return Transaction(user_id=user_id, origin=origin, timestamp=self.org.events.clock())

    @contextmanager
    def transaction(
        self, user_id: str = INTEGRATION_USER_ID, origin: str = ""
    ) -> Iterator[Transaction]:
        """Commit on normal exit; roll everything back if the block raises."""
        txn = self.begin(user_id, origin)
        try:
            yield txn
        except BaseException:
            self.rollback_to(txn, (0, 0))
            raise
        self.commit(txn)

    def rollback_to(self, txn: Transaction, savepoint: tuple[int, int]) -> None:
        undo_len, changes_len = savepoint
        while len(txn.undo) > undo_len:
            sobj, rid, previous = txn.undo.pop()
            current = self.table(sobj).get(rid)
            if previous is None:
                self.table(sobj).pop(rid, None)
                if current is not None:
                    self.org.indexes.removed(sobj, rid, current)
            else:
                self.table(sobj)[rid] = previous
                self.org.indexes.stored(sobj, rid, current)
        del txn.changes[changes_len:]

    def _run(
        self, txn: Transaction | None, user_id: str, origin: str, fn: Callable[[Transaction], T]
    ) -> T:
        if txn is not None:
            sp = txn.savepoint()
            try:
                return fn(txn)
            except BaseException:
                self.rollback_to(txn, sp)
                raise
        with self.transaction(user_id, origin) as own:
            return fn(own)

    # ---- public write API ---------------------------------------------------------
    def create(
        self,
        sobj: str,
        values: dict[str, Any],
        *,
        user_id: str = INTEGRATION_USER_ID,
        origin: str = "",
        txn: Transaction | None = None,
    ) -> str:
        """Insert a record; returns its 18-character id."""
        return self._run(txn, user_id, origin, lambda t: self._create(t, sobj, values))

    def update(
        self,
        sobj: str,
        record_id: str,
        values: dict[str, Any],
        *,
        user_id: str = INTEGRATION_USER_ID,
        origin: str = "",
        txn: Transaction | None = None,
    ) -> bool:
        """Update fields; returns False (and emits nothing) when nothing changed."""
        return self._run(txn, user_id, origin, lambda t: self._update(t, sobj, record_id, values))

    def delete(
        self,
        sobj: str,
        record_id: str,
        *,
        user_id: str = INTEGRATION_USER_ID,
        origin: str = "",
        txn: Transaction | None = None,
    ) -> None:
        """Move a record to the Recycle Bin."""
        self._run(txn, user_id, origin, lambda t: self._delete(t, sobj, record_id))

    def undelete(
        self,
        sobj: str,
        record_id: str,
        *,
        user_id: str = INTEGRATION_USER_ID,
        origin: str = "",
        txn: Transaction | None = None,
    ) -> None:
        """Restore a record from the Recycle Bin."""
        self._run(txn, user_id, origin, lambda t: self._undelete(t, sobj, record_id))

    def publish(
        self, name: str, values: dict[str, Any], *, user_id: str = INTEGRATION_USER_ID
    ) -> tuple[str, str]:
        """Publish a platform event (immediately, not transactional).  Returns (id, uuid)."""
        event_type = platform_event(name)
        if event_type is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        body: dict[str, Any] = {f: None for f in event_type.fields}
        for key, value in values.items():
            if key == "attributes":
                continue
            f = event_type.field(key)
            if f is None:
                raise SfError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {event_type.name}"
                )
            body[f.name] = self._coerce(f, value)
        payload = {
            "CreatedDate": to_cdc_datetime(format_datetime(self.org.events.clock())),
            "CreatedById": user_id,
            **body,
        }
        event_uuid = str(uuid.uuid4())
        self.org.events.append(
            f"/event/{event_type.name}",
            payload,
            schema_id=schema_id(event_type.name),
            event_uuid=event_uuid,
        )
        return new_id(event_type.name, event_type.key_prefix), event_uuid

    # ---- reads --------------------------------------------------------------------
    def table(self, sobj: str) -> dict[str, dict[str, Any]]:
        return self.org.records.setdefault(sobj, {})

    def type_of(self, sobj: str) -> SObjectType:
        t = sobject(sobj)
        if t is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        return t

    def find(self, sobj: str, record_id: str) -> dict[str, Any]:
        """The stored record, or NOT_FOUND / ENTITY_IS_DELETED / MALFORMED_ID."""
        t = self.type_of(sobj)
        rid = self._record_id(t, record_id)
        record = self.table(t.name).get(rid)
        if record is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if record.get("IsDeleted"):
            raise SfError("ENTITY_IS_DELETED", "entity is deleted", status=404)
        return record

    def get(
        self, sobj: str, record_id: str, fields: list[str] | None = None, version: str = "62.0"
    ) -> dict[str, Any]:
        """A record in REST GET shape (``attributes`` first; compounds as objects)."""
        t = self.type_of(sobj)
        record = self.find(t.name, record_id)
        names = [
            f.name
            for f in t.fields.values()
            if not f.compound and not self.org.lacks(t.name, f.name)
        ]
        if fields is not None:
            names = []
            for name in fields:
                f = t.field(name)
                if f is None or self.org.lacks(t.name, f.name):
                    raise SfError(
                        "INVALID_FIELD", f"No such column '{name}' on sobject of type {t.name}"
                    )
                names.append(f.name)
        return rest_record(t, record, names, version)

    def live(self, sobj: str) -> list[dict[str, Any]]:
        return [r for r in self.table(sobj).values() if not r.get("IsDeleted")]

    def counts(self) -> dict[str, int]:
        return {name: len(self.live(name)) for name in SOBJECTS}

    # ---- write internals ----------------------------------------------------------
    def _record_id(self, t: SObjectType, record_id: str) -> str:
        try:
            return id_of_type(record_id, t.name)
        except MalformedIdError:
            raise SfError(
                "MALFORMED_ID", f"{t.name} ID: id value of incorrect type: {record_id}", ["Id"]
            ) from None

    def _create(self, txn: Transaction, sobj: str, values: dict[str, Any]) -> str:
        t = self.type_of(sobj)
        clean = self._validate(t, values, creating=True)
        record: dict[str, Any] = {
            f.name: f.default for f in t.fields.values() if f.type != "address"
        }
        record.update(clean)
        missing = [
            f.name for f in t.fields.values() if f.required and record.get(f.name) in (None, "")
        ]
        if missing:
            raise SfError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        rid = new_id(t.name)
        now = txn.stamp
        record.update(
            Id=rid,
            CreatedDate=now,
            CreatedById=txn.user_id,
            LastModifiedDate=now,
            LastModifiedById=txn.user_id,
            SystemModstamp=now,
            IsDeleted=False,
        )
        if "OwnerId" in t.fields and record.get("OwnerId") is None:
            record["OwnerId"] = txn.user_id
        if t.auto_number:
            record[t.auto_number[0]] = self._next_number(t)
        _derive(t.name, record)
        txn.undo.append((t.name, rid, None))
        self.table(t.name)[rid] = record
        self.org.indexes.stored(t.name, rid, None)
        self._rollup(txn, t.name, record)
        txn.changes.append(_Change(t.name, rid, "CREATE", None))
        return rid

    def _update(self, txn: Transaction, sobj: str, record_id: str, values: dict[str, Any]) -> bool:
        t = self.type_of(sobj)
        record = self.find(t.name, record_id)
        rid = record["Id"]
        values = dict(values)
        for key in [k for k in values if k.lower() == "id"]:
            given = values.pop(key)
            if given is not None and (not is_valid_id(given) or to18(given) != rid):
                raise SfError(
                    "INVALID_ID_FIELD", "The Id field should not be specified in the sobject data."
                )
        clean = self._validate(t, values, creating=False)
        nulled_required = [n for n, v in clean.items() if v is None and t.fields[n].required]
        if nulled_required:
            raise SfError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(nulled_required)}]",
                nulled_required,
            )
        changed = {k: v for k, v in clean.items() if record.get(k) != v}
        if not changed:
            return False
        txn.undo.append((t.name, rid, dict(record)))
        before = dict(record)
        now = txn.stamp
        record.update(changed)
        record.update(LastModifiedDate=now, LastModifiedById=txn.user_id, SystemModstamp=now)
        _derive(t.name, record)
        self.org.indexes.stored(t.name, rid, before)
        self._rollup(txn, t.name, record)
        txn.changes.append(_Change(t.name, rid, "UPDATE", before))
        return True

    def _delete(self, txn: Transaction, sobj: str, record_id: str) -> None:
        t = self.type_of(sobj)
        record = self.find(t.name, record_id)
        txn.undo.append((t.name, record["Id"], dict(record)))
        before = dict(record)
        record.update(IsDeleted=True, SystemModstamp=txn.stamp)
        self._rollup(txn, t.name, record)
        txn.changes.append(_Change(t.name, record["Id"], "DELETE", before))

    def _undelete(self, txn: Transaction, sobj: str, record_id: str) -> None:
        t = self.type_of(sobj)
        rid = self._record_id(t, record_id)
        record = self.table(t.name).get(rid)
        if record is None:
            raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
        if not record.get("IsDeleted"):
            raise SfError("UNDELETE_FAILED", "Entity is not in the recycle bin")
        txn.undo.append((t.name, rid, dict(record)))
        before = dict(record)
        record.update(IsDeleted=False, SystemModstamp=txn.stamp)
        self._rollup(txn, t.name, record)
        txn.changes.append(_Change(t.name, rid, "UNDELETE", before))

    def _next_number(self, t: SObjectType) -> str:
        assert t.auto_number is not None
        name, digits = t.auto_number
        start = 100 if digits <= 8 else 1
        return str(self.org.indexes.next_number(t.name, name, start)).zfill(digits)

    def _rollup(self, txn: Transaction, child_type: str, child: dict[str, Any]) -> None:
        """Recompute the parent's totals (a roll-up: no event, no timestamp change)."""
        if child_type not in ROLLUPS:
            return
        fk, parent_type, total_fields = ROLLUPS[child_type]
        parent = self.table(parent_type).get(child.get(fk) or "")
        if parent is None:
            return
        siblings = self.org.indexes.children(child_type, fk, parent["Id"])
        total = sum(r.get("TotalPrice") or 0.0 for r in siblings if not r.get("IsDeleted"))
        if all(parent.get(f) == total for f in total_fields):
            return
        txn.undo.append((parent_type, parent["Id"], dict(parent)))
        for f in total_fields:
            parent[f] = float(total)

    def _validate(self, t: SObjectType, values: dict[str, Any], creating: bool) -> dict[str, Any]:
        if not isinstance(values, dict):
            raise SfError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
        out: dict[str, Any] = {}
        readonly: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            f = t.field(key)
            if f is None or self.org.lacks(t.name, f.name):
                raise SfError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {t.name}"
                )
            writable = f.createable if creating else f.updateable
            if not writable or self.org.read_only(t.name, f.name):
                readonly.append(f.name)
                continue
            out[f.name] = self._coerce(f, value)
        if readonly:
            raise SfError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                readonly,
            )
        return out

    def _coerce(self, f: Field, value: Any) -> Any:
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
            return self._reference(f, value)
        raise _parse_error(f, value)

    def _reference(self, f: Field, value: Any) -> str:
        target = f.reference_to or ""
        try:
            rid = id_of_type(value, target)
        except MalformedIdError:
            raise SfError(
                "MALFORMED_ID", f"{target} ID: id value of incorrect type: {value}", [f.name]
            ) from None
        if target in SOBJECTS:
            parent = self.table(target).get(rid)
            if parent is None:
                raise SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
            if parent.get("IsDeleted"):
                raise SfError("ENTITY_IS_DELETED", "entity is deleted", [f.name])
        return rid

    # ---- commit and change events -------------------------------------------------
    def commit(self, txn: Transaction) -> None:
        """Emit one change event per touched CDC record (first change type, final data).

        The org's gap and overflow switches may rewrite or swallow some (``chaos``).
        """
        grouped: dict[tuple[str, str], list[_Change]] = {}
        for change in txn.changes:
            grouped.setdefault((change.sobject, change.record_id), []).append(change)
        txn.changes.clear()
        txn.undo.clear()
        commit_ms = int(txn.timestamp * 1000)
        commit_number = next(_commit_numbers)
        pending: list[Pending] = []
        seq = 0
        for (sobj, rid), changes in grouped.items():
            if changes[0].before is not None:  # updates: a creation's values are no history
                after = self.table(sobj).get(rid) or {}
                self.org.history.record(sobj, rid, changes[0].before, after, txn.timestamp)
            if not SOBJECTS[sobj].cdc or not self.org.cdc_enabled(sobj):
                continue
            first, last = changes[0].kind, changes[-1].kind
            if first == "CREATE" and last == "DELETE":
                continue
            kind = "DELETE" if last == "DELETE" else first
            record = self.table(sobj)[rid]
            header: dict[str, Any] = {
                "entityName": sobj,
                "recordIds": [rid],
                "changeType": kind,
                "changeOrigin": txn.origin,
                "transactionKey": txn.key,
                "sequenceNumber": 0,
                "commitTimestamp": commit_ms,
                "commitNumber": commit_number,
                "commitUser": txn.user_id,
                "changedFields": [],
            }
            body: dict[str, Any] = {}
            if kind == "UPDATE":
                names, body = _diff(sobj, changes[0].before or {}, record)
                if not names:
                    continue
                header["changedFields"] = names
            elif kind in ("CREATE", "UNDELETE"):
                body = {k: v for k, v in cdc_record(sobj, record, drop_empty=True).items()}
            seq += 1
            header["sequenceNumber"] = seq
            full = cdc_record(sobj, record, drop_empty=False)
            if self.org.single_currency or self.org.missing_fields:  # fields this org lacks
                body = {k: v for k, v in body.items() if not self.org.lacks(sobj, k)}
                full = {k: v for k, v in full.items() if not self.org.lacks(sobj, k)}
                header["changedFields"] = [
                    n for n in header["changedFields"] if not self.org.lacks(sobj, n)
                ]
            pending.append((header, body, full))
        for header, body, full in apply_change_chaos(self.org, pending):
            entity = header["entityName"]
            self.org.events.append(
                change_event_channel(entity),
                {"ChangeEventHeader": header, **body},
                schema_id=schema_id(f"{entity}ChangeEvent"),
                record=full,
            )


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


def _derive(sobj: str, record: dict[str, Any]) -> None:
    if sobj in ("OrderItem", "QuoteLineItem"):
        qty, price = record.get("Quantity"), record.get("UnitPrice")
        # a quote line's TotalPrice is its subtotal (quantity x sales price) less Discount %
        share = 1 - (record.get("Discount") or 0) / 100 if sobj == "QuoteLineItem" else 1
        total = None if qty is None or price is None else round(qty * price * share, 2)
        record["TotalPrice"] = total


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


def _diff(
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


__all__ = [
    "PLATFORM_EVENTS",
    "ROLLED_BACK",
    "RecordStore",
    "SfError",
    "Transaction",
    "cdc_record",
    "format_datetime",
    "parse_datetime",
    "record_attributes",
    "rest_record",
    "to_cdc_datetime",
]
