"""Record storage on top of ``SandboxOrg.records``: writes, validation, change events.

Every write runs in a ``Transaction`` (one per REST request).  Records are kept as
flat dicts (datetimes in REST form ``2026-01-01T12:00:00.000+0000``, dates
``2026-01-01``); deleted records stay with ``IsDeleted`` true (the Recycle Bin).  On
commit, each CDC-enabled record touched in the transaction yields one change event
on ``/data/{Entity}ChangeEvent``, shaped like a CometD delivery body.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from revflow.sandbox.coercion import coerce, validate
from revflow.sandbox.ids import MalformedIdError, id_of_type, is_valid_id, new_id, to18
from revflow.sandbox.org import INTEGRATION_USER_ID, SandboxOrg
from revflow.sandbox.schema import (
    PLATFORM_EVENTS,
    ROLLUPS,
    SOBJECTS,
    SfError,
    SObjectType,
    platform_event,
    schema_id,
    sobject,
)
from revflow.sandbox.shapes import (
    cdc_record,
    format_datetime,
    parse_datetime,
    record_attributes,
    rest_record,
    to_cdc_datetime,
)
from revflow.sandbox.transactions import Change, Transaction, emit_changes

T = TypeVar("T")
ROLLED_BACK = (
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header"
)


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
            body[f.name] = coerce(self.org, f, value)
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
        clean = validate(self.org, t, values, creating=True)
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
        txn.changes.append(Change(t.name, rid, "CREATE", None))
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
        clean = validate(self.org, t, values, creating=False)
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
        txn.changes.append(Change(t.name, rid, "UPDATE", before))
        return True

    def _delete(self, txn: Transaction, sobj: str, record_id: str) -> None:
        t = self.type_of(sobj)
        record = self.find(t.name, record_id)
        txn.undo.append((t.name, record["Id"], dict(record)))
        before = dict(record)
        record.update(IsDeleted=True, SystemModstamp=txn.stamp)
        self._rollup(txn, t.name, record)
        txn.changes.append(Change(t.name, record["Id"], "DELETE", before))

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
        txn.changes.append(Change(t.name, rid, "UNDELETE", before))

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

    def commit(self, txn: Transaction) -> None:
        """Emit one change event per touched CDC record (first change type, final data).

        The org's gap and overflow switches may rewrite or swallow some (``chaos``).
        """
        emit_changes(self.org, txn)


def _derive(sobj: str, record: dict[str, Any]) -> None:
    if sobj in ("OrderItem", "QuoteLineItem"):
        qty, price = record.get("Quantity"), record.get("UnitPrice")
        # a quote line's TotalPrice is its subtotal (quantity x sales price) less Discount %
        share = 1 - (record.get("Discount") or 0) / 100 if sobj == "QuoteLineItem" else 1
        total = None if qty is None or price is None else round(qty * price * share, 2)
        record["TotalPrice"] = total


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
