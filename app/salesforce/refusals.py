"""Show the user a write-back that Salesforce refused.

When the org refuses an update of an Order or a Quote (its own validation rule,
``FIELD_CUSTOM_VALIDATION_EXCEPTION``, or a field error), the Order would keep
its old status and an empty error field: nobody looking at it would know.  So the
flusher queues a *refusal notice*: an update of the error field alone, which the
rule that refused the status does not block, quoting Salesforce's message and
naming the values refused.  A notice is sent on its own (never coalesced with
other updates, never re-sending the refused values) and only once, unless a newer
update of the record supersedes it; if the org refuses even that, an incident is
recorded, logged as an error and counted.

The plan keeps its outcome: a refused write-back changes what the Order shows,
not what was done in the ERP.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.db.models import OutboxOperation, OutboxState, WritebackItem
from revflow.incidents import open_in, resolve_in
from revflow.metrics import WRITEBACK_REFUSALS
from revflow.salesforce import outbox, repository
from revflow.salesforce.targets import RECORD_TYPES

log = logging.getLogger("revflow.writeback")

INCIDENT_KIND = "writeback_refusal_unshown"
INCIDENT_KEY = "salesforce:writeback:refusal_unshown"
NOTICE_LIMIT = 4000  # well under a Long Text Area; a short field would refuse more
NOTICE_SOBJECT = "Order"  # where the error field is unless the record is a Quote
PREFIX = "Salesforce refused the update"


def _shown(value: Any) -> str:
    return "empty" if value in (None, "") else repr(value)


def notice_text(
    fields: dict[str, Any],
    code: str,
    message: str,
    error_fields: list[str],
    *,
    status_field: str,
    error_field: str,
) -> str:
    """``Salesforce refused the update Fulfillment_Status__c = 'Completed' (...)``: the
    status first, then the other values refused, then Salesforce's own words."""
    names = sorted(fields, key=lambda name: (name != status_field, name))
    refused = ", ".join(f"{n} = {_shown(fields[n])}" for n in names if n != error_field)
    text = f"{PREFIX} {refused}: {code}: {message}"
    if error_fields:
        text += f" (fields: {', '.join(error_fields)})"
    own = fields.get(error_field)
    if own:  # the error Revflow meant to show is still worth showing
        text += f". Revflow's error: {own}"
    return text[:NOTICE_LIMIT]


def wants_notice(sobject: str, fields: dict[str, Any], error_field: str | None) -> bool:
    """An Order or Quote update that carried more than the error field (else nothing
    new to say)."""
    return bool(error_field) and sobject in RECORD_TYPES and any(f != error_field for f in fields)


def queue_notice(
    s: AsyncSession,
    record_id: str,
    text: str,
    *,
    error_field: str,
    correlation_id: str | None,
    plan_id: int | None,
    sobject: str = NOTICE_SOBJECT,
) -> None:
    """Queue the notice in the transaction that marks the refused update failed (a
    queued row like every write-back: ids follow the order they were queued in)."""
    outbox.enqueue(
        s, sobject, record_id, {error_field: text}, correlation_id, OutboxOperation.NOTICE
    )
    audit.record(
        s,
        "writeback",
        "writeback.refusal_notice_queued",
        plan_id=plan_id,
        order_id=record_id,
        correlation_id=correlation_id,
        notice=text,
    )
    WRITEBACK_REFUSALS.labels(outcome="refused").inc()


def superseded(items: list[WritebackItem]) -> set[int]:
    """Ids of notices older than an update of the same record claimed with them."""
    newest: dict[tuple[str, str], int] = {}
    for i in items:
        if i.operation == OutboxOperation.UPDATE:
            key = (i.sobject, i.record_id)
            newest[key] = max(newest.get(key, 0), i.id)
    return {
        i.id
        for i in items
        if i.operation == OutboxOperation.NOTICE and newest.get((i.sobject, i.record_id), 0) > i.id
    }


async def drop_superseded(s: AsyncSession, ids: set[int]) -> None:
    """Such notices are not sent: the newer update carries its own error field, or is
    refused and noticed anew."""
    await repository.finish_items(
        s, ids, OutboxState.DROPPED, error="superseded by a newer update of the record"
    )


async def notice_sent(s: AsyncSession, record_id: str, correlation_id: str | None) -> None:
    """A notice reached the Order: the error field is writable again."""
    await resolve_in(s, INCIDENT_KEY, f"a refusal notice reached Order {record_id}")
    audit.record(
        s,
        "writeback",
        "writeback.refusal_shown",
        order_id=record_id,
        correlation_id=correlation_id,
    )
    WRITEBACK_REFUSALS.labels(outcome="shown").inc()


async def notice_failed(
    s: AsyncSession,
    record_id: str,
    fields: dict[str, Any],
    error: str,
    correlation_id: str | None,
) -> None:
    """Even the error field alone was refused: the Order shows nothing.  A blocking
    incident (one for all such Orders, counting them) until a notice gets through."""
    log.error(
        "Salesforce refused a write-back and the notice of it; the Order shows neither",
        extra={"order_id": record_id, "error": error, "correlation_id": correlation_id},
    )
    await open_in(
        s,
        INCIDENT_KEY,
        INCIDENT_KIND,
        f"Salesforce refused the error field too (Order {record_id}): {error}",
        detail={"order_id": record_id, "error": error, "notice": fields},
    )
    WRITEBACK_REFUSALS.labels(outcome="unshown").inc()
