"""How outbox items become records of sObject Collections calls.

Updates are coalesced per record (newest value per field wins); creates and
refusal notices are each a record of their own, never coalesced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from revflow.db.models import OutboxOperation, WritebackItem


@dataclass
class Coalesced:
    sobject: str
    record_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    item_ids: list[int] = field(default_factory=list)
    attempts: int = 0
    operation: str = OutboxOperation.UPDATE
    correlation_id: str | None = None


def coalesce(items: list[WritebackItem]) -> list[Coalesced]:
    """One update per record, newest value per field winning (items in id order)."""
    merged: dict[tuple[str, str], Coalesced] = {}
    for item in sorted(items, key=lambda i: i.id):
        key = (item.sobject, item.record_id)
        c = merged.setdefault(key, Coalesced(item.sobject, item.record_id))
        c.fields.update(item.fields)
        c.item_ids.append(item.id)
        c.attempts = max(c.attempts, item.attempts)
        c.correlation_id = item.correlation_id or c.correlation_id
    return list(merged.values())


def singles(items: list[WritebackItem]) -> list[Coalesced]:
    """Each item on its own, in id order (creates, refusal notices)."""
    return [
        Coalesced(
            i.sobject,
            i.record_id,
            dict(i.fields),
            [i.id],
            i.attempts,
            i.operation,
            i.correlation_id,
        )
        for i in sorted(items, key=lambda i: i.id)
    ]


def is_create(item: WritebackItem) -> bool:
    return item.operation == OutboxOperation.CREATE


def is_notice(item: WritebackItem) -> bool:
    return item.operation == OutboxOperation.NOTICE


def is_update(item: WritebackItem) -> bool:
    """A plain update, coalesced with the record's others (not a create, not a notice)."""
    return not is_create(item) and not is_notice(item)


def chunks(records: list[Coalesced], size: int) -> list[list[Coalesced]]:
    return [records[start : start + size] for start in range(0, len(records), size)]
