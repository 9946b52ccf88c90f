"""Enqueue Salesforce writes, inside the caller's transaction.

Two kinds of item (``WritebackItem.operation``):

- **update**: field values for an existing record (``record_id``).  The flusher
  coalesces all pending updates of a record into one (newest value per field wins).
- **create**: a new record (e.g. a ProcessException) or a platform event (``X__e``).
  Each is sent as it is, never coalesced: two events are two events.  ``record_id``
  is the Order the item concerns (for the audit and the plan's error).

``enqueue`` treats a platform-event name (``X__e``) as a create, so callers that only
know ``(sobject, record_id, fields)`` (the worker's step writes) publish events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.bulk import insert_rows
from revflow.db.models import OutboxOperation, WritebackItem

#: sObjects Revflow only ever creates (never updates by id)
CREATE_ONLY = frozenset({"ProcessException"})


def is_platform_event(sobject: str) -> bool:
    return sobject.endswith("__e")


def operation_for(sobject: str) -> OutboxOperation:
    if is_platform_event(sobject) or sobject in CREATE_ONLY:
        return OutboxOperation.CREATE
    return OutboxOperation.UPDATE


def enqueue(
    session: AsyncSession,
    sobject: str,
    record_id: str,
    fields: dict[str, Any],
    correlation_id: str | None = None,
    operation: OutboxOperation | None = None,
) -> None:
    """Queue a write: an update of ``record_id``, or a create (events, ``CREATE_ONLY``)."""
    session.add(
        WritebackItem(
            sobject=sobject,
            record_id=record_id,
            fields=fields,
            correlation_id=correlation_id,
            operation=operation or operation_for(sobject),
        )
    )


class Write(NamedTuple):
    """One queued write, for ``enqueue_many``."""

    sobject: str
    record_id: str
    fields: dict[str, Any]
    correlation_id: str | None = None
    operation: OutboxOperation | None = None


async def enqueue_many(session: AsyncSession, writes: Sequence[Write]) -> None:
    """``enqueue`` each of ``writes``, in one INSERT (ids follow ``writes``' order)."""
    if not writes:
        return
    rows = [
        {
            "sobject": w.sobject,
            "record_id": w.record_id,
            "fields": w.fields,
            "correlation_id": w.correlation_id,
            "operation": w.operation or operation_for(w.sobject),
        }
        for w in writes
    ]
    # an executemany inserts, and numbers, the rows in order: coalescing lets the
    # newest of two values of a field win
    await insert_rows(session, WritebackItem, rows)


def create(
    session: AsyncSession,
    sobject: str,
    fields: dict[str, Any],
    *,
    about: str,
    correlation_id: str | None = None,
) -> None:
    """Queue a new record (or platform event) ``about`` an Order (its id)."""
    enqueue(session, sobject, about, fields, correlation_id, OutboxOperation.CREATE)
