"""What the write-back does with each record's outcome of a collections call.

- success: its items are marked sent (a published event's ``OPERATION_ENQUEUED``
  entry is a success); a sent refusal notice is noted on its incident;
- ``UNABLE_TO_LOCK_ROW`` (``RETRYABLE_CODES``): handed back to be released with
  jittered backoff (``release``);
- ``ENTITY_IS_DELETED`` (``DROP_CODES``): dropped;
- anything else: failed with the reason, classified ``configuration`` or ``data``.

Dropped and failed writes set the Order's plan ``error`` and add an audit entry; a
refused update of an Order raises an alert and queues a refusal notice
(``refusals``).  Every function works in the caller's transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.alerts.hooks import writeback_refused
from revflow.alerts.service import raise_alert
from revflow.clock import utcnow
from revflow.db.models import OutboxOperation, OutboxState
from revflow.metrics import WRITEBACK_RECORDS
from revflow.plans.retry import forever
from revflow.salesforce import refusals, repository
from revflow.salesforce.batching import Coalesced
from revflow.salesforce.client import RecordResult
from revflow.salesforce.errors import DROP_CODES, RETRYABLE_CODES, classify

# a record put back after a failure: 1 s doubling up to 5 min, +-50 %
RELEASE_BACKOFF = forever(1.0, 300.0, jitter=0.5)
PLAN_ERROR_LIMIT = 4000

# record id -> its (status field, error field): an Order's or a Quote's
FieldsOf = Callable[[str], tuple[str, str | None]]


async def record_outcomes(
    s: AsyncSession, chunk: list[Coalesced], results: list[RecordResult], fields_of: FieldsOf
) -> list[tuple[Coalesced, str]]:
    """Record each record's outcome; returns the records to retry, with the reason."""
    now = utcnow()
    sent_ids: list[int] = []
    retry: list[tuple[Coalesced, str]] = []
    for c, res in zip(chunk, results, strict=True):
        if res.success:
            sent_ids.extend(c.item_ids)
            WRITEBACK_RECORDS.labels(outcome="sent").inc()
            if c.operation == OutboxOperation.NOTICE:
                await refusals.notice_sent(s, c.record_id, c.correlation_id)
            continue
        err = res.errors[0] if res.errors else None
        code = err.status_code if err else "UNKNOWN"
        text = f"{code}: {err.message}" if err else code
        if err and err.fields:
            text += f" (fields: {', '.join(err.fields)})"
        if code in RETRYABLE_CODES:
            retry.append((c, text))
            WRITEBACK_RECORDS.labels(outcome="retry").inc()
            continue
        state = OutboxState.DROPPED if code in DROP_CODES else OutboxState.FAILED
        await repository.finish_items(s, c.item_ids, state, error=text)
        WRITEBACK_RECORDS.labels(outcome=str(state)).inc()
        if c.operation == OutboxOperation.NOTICE:
            if state == OutboxState.FAILED:
                await refusals.notice_failed(s, c.record_id, c.fields, text, c.correlation_id)
            continue
        plan_id = await record_on_plan(s, c, state, code, text)
        if state == OutboxState.FAILED and c.operation == OutboxOperation.UPDATE:
            await raise_alert(s, writeback_refused(plan_id, c.record_id, code, text))
        status_field, error_field = fields_of(c.record_id)
        if (
            state == OutboxState.FAILED
            and c.operation == OutboxOperation.UPDATE
            and error_field
            and refusals.wants_notice(c.sobject, c.fields, error_field)
        ):
            notice = refusals.notice_text(
                c.fields,
                code,
                err.message if err else "",
                list(err.fields) if err else [],
                status_field=status_field,
                error_field=error_field,
            )
            refusals.queue_notice(
                s,
                c.record_id,
                notice,
                error_field=error_field,
                correlation_id=c.correlation_id,
                plan_id=plan_id,
                sobject=c.sobject,
            )
    if sent_ids:
        await repository.finish_items(s, sent_ids, OutboxState.SENT, sent_at=now, error=None)
    return retry


async def record_on_plan(
    s: AsyncSession, c: Coalesced, state: OutboxState, code: str, text: str
) -> int | None:
    """The plan of the Order the write was about gets the error; the audit the detail."""
    kind = classify(code)
    plan = await repository.latest_plan(s, c.record_id)
    what = "publish" if c.sobject.endswith("__e") else c.operation
    message = f"write-back {kind} error ({what} {c.sobject}): {text}"
    if plan is not None:
        await repository.set_plan_error(s, plan.id, message[:PLAN_ERROR_LIMIT])
    audit.record(
        s,
        "writeback",
        f"writeback.{state}",
        plan_id=plan.id if plan else None,
        order_id=c.record_id,
        correlation_id=c.correlation_id or (plan.correlation_id if plan else None),
        sobject=c.sobject,
        operation=str(c.operation),
        fields=c.fields,
        error=text,
        code=code,
        classification=kind,
    )
    return plan.id if plan else None


async def release(
    s: AsyncSession,
    records: list[Coalesced],
    delay_s: float | None,
    error: str | None,
    rng: random.Random,
    count_attempt: bool = True,
) -> None:
    """Put records back to pending, due after a delay (jittered backoff by default)."""
    for c in records:
        attempts = c.attempts + (1 if count_attempt else 0)
        delay = delay_s if delay_s is not None else RELEASE_BACKOFF.backoff_s(attempts, rng)
        values: dict[str, Any] = {
            "attempts": attempts,
            "lease_owner": None,
            "lease_expires_at": None,
            "due_at": utcnow() + timedelta(seconds=delay),
        }
        if error is not None:
            values["error"] = error
        await repository.set_items(s, c.item_ids, **values)
