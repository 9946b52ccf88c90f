"""A sandbox transaction, and the change events its commit emits.

On commit, each CDC-enabled record touched in the transaction yields one change
event on ``/data/{Entity}ChangeEvent``, shaped like a CometD delivery body.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from revflow.sandbox.chaos import Pending, apply_change_chaos
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.schema import SOBJECTS, change_event_channel, schema_id
from revflow.sandbox.shapes import cdc_record, changed_fields, format_datetime

_commit_numbers = itertools.count(1_124_589_736_215 + int(time.time()) % 1_000_000 * 1000)


@dataclass
class Change:
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
    changes: list[Change] = field(default_factory=list)
    undo: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def stamp(self) -> str:
        return format_datetime(self.timestamp)

    def savepoint(self) -> tuple[int, int]:
        return len(self.undo), len(self.changes)


def emit_changes(org: SandboxOrg, txn: Transaction) -> None:
    """Emit one change event per touched CDC record (first change type, final data).

    The org's gap and overflow switches may rewrite or swallow some (``chaos``).
    """
    grouped: dict[tuple[str, str], list[Change]] = {}
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
            after = org.records.setdefault(sobj, {}).get(rid) or {}
            org.history.record(sobj, rid, changes[0].before, after, txn.timestamp)
        if not SOBJECTS[sobj].cdc or not org.cdc_enabled(sobj):
            continue
        first, last = changes[0].kind, changes[-1].kind
        if first == "CREATE" and last == "DELETE":
            continue
        kind = "DELETE" if last == "DELETE" else first
        record = org.records.setdefault(sobj, {})[rid]
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
            names, body = changed_fields(sobj, changes[0].before or {}, record)
            if not names:
                continue
            header["changedFields"] = names
        elif kind in ("CREATE", "UNDELETE"):
            body = {k: v for k, v in cdc_record(sobj, record, drop_empty=True).items()}
        seq += 1
        header["sequenceNumber"] = seq
        full = cdc_record(sobj, record, drop_empty=False)
        if org.single_currency or org.missing_fields:  # fields this org lacks
            body = {k: v for k, v in body.items() if not org.lacks(sobj, k)}
            full = {k: v for k, v in full.items() if not org.lacks(sobj, k)}
            header["changedFields"] = [n for n in header["changedFields"] if not org.lacks(sobj, n)]
        pending.append((header, body, full))
    for header, body, full in apply_change_chaos(org, pending):
        entity = header["entityName"]
        org.events.append(
            change_event_channel(entity),
            {"ChangeEventHeader": header, **body},
            schema_id=schema_id(f"{entity}ChangeEvent"),
            record=full,
        )
