"""Enqueue Salesforce writes, inside the caller's transaction.

Two kinds of item (``WritebackItem.operation``):

- **update**: field values for an existing record (``record_id``).  The flusher
  coalesces all pending updates of a record into one (newest value per field wins).
- **create**: a new record (e.g. a ProcessException) or a platform event (``X__e``).
  Each is sent as it is, never coalesced: two events are two events.  ``record_id``
  is the Order the item concerns (for the audit and the plan's error).

Items are queued rows (``revflow.db.bulk.queue``), inserted when the caller's
transaction commits, in enqueue order (ids follow it: coalescing lets the newest
value of a field win); no ORM object, no flush.

``enqueue`` treats a platform-event name (``X__e``) as a create, so callers that only
know ``(sobject, record_id, fields)`` (the worker's step writes) publish events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db import bulk
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
    bulk.queue(
        session.sync_session,
        WritebackItem,
        [_row(Write(sobject, record_id, fields, correlation_id, operation))],
    )


class Write(NamedTuple):
    """One queued write, for ``enqueue_many``."""

    sobject: str
    record_id: str
    fields: dict[str, Any]
    correlation_id: str | None = None
    operation: OutboxOperation | None = None


async def enqueue_many(session: AsyncSession, writes: Sequence[Write]) -> None:
    """``enqueue`` each of ``writes`` (inserted with the others at commit, in order)."""
    bulk.queue(session.sync_session, WritebackItem, [_row(w) for w in writes])


def _row(w: Write) -> dict[str, Any]:
    return {
        "sobject": w.sobject,
        "record_id": w.record_id,
        "fields": w.fields,
        "correlation_id": w.correlation_id,
        "operation": w.operation or operation_for(w.sobject),
    }


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
