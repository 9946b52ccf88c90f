"""Webhook endpoint state, disabling with an alert, parked messages and replay.

Parking design.  While an endpoint is disabled its callout steps are neither attempted
nor failed: ``EndpointGuard`` raises ``EndpointDisabledError`` before sending, and the
executor turns it into the ``WAIT`` outcome, so the worker parks the step in
``waiting`` with ``due_at`` unset and this module notes ``endpoint disabled: <reason>``
on it (``Step.note``).  ``waiting`` already means "parked until something outside the
worker acts" (a wait step's signal, a manual task's operator); the worker never claims
it (claims take ``ready``/``retrying``) and never times it out (only ``wait`` steps
have a timeout), the plan stays ``in_progress`` (not on hold: the order is fine, its
receiver is not), jeopardy keeps watching it, and an operator can still skip or cancel
it.  Replay moves it ``waiting -> pending`` (the state machine's redrive edge) with
its attempts reset, and ``settle`` readies it: the retry schedule starts afresh and the
``webhook-id`` (from the unchanged idempotency key) stays the same.  The alternative,
a ``failed`` fallout entry, would put every affected plan on hold and write "On Hold"
to its Order for a problem that is the receiver's, and would mix kept messages with
real fallout; a ``retrying`` step with a far ``due_at`` would use up the attempts the
retry policy allows.

A compensation (undo) to a disabled endpoint is deferred for an hour at a time
instead (it stays ``compensating``; see the executor).

This module keeps the endpoint's state as deliveries succeed and fail; the operator's
actions are in ``actions.py``, what operators read in ``status.py``, the queries in
``repository.py``.  Functions take the caller's session: the caller (the guard, a
route, a command) owns the transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Gauge
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit, incidents
from revflow.alerts.hooks import endpoint_disabled
from revflow.alerts.service import raise_alert
from revflow.clock import aware, utcnow
from revflow.db.models import WebhookEndpoint
from revflow.webhooks import repository
from revflow.webhooks.errors import BadRequest

__all__ = [
    "ALERT",
    "DISABLED",
    "ENABLED",
    "INCIDENT_KIND",
    "PARKED_NOTE",
    "DisablePolicy",
    "changed",
    "check_name",
    "generation",
    "get_endpoint",
    "mark_parked",
    "record_failure",
    "record_success",
]

log = logging.getLogger("revflow.webhooks")

ENABLED, DISABLED = "enabled", "disabled"
ALERT = "webhook.endpoint_disabled"  # the audit action operators alert on
INCIDENT_KIND = "webhook_endpoint_disabled"
PARKED_NOTE = "endpoint disabled"
SYSTEM_ACTOR = "webhooks"
CONNECTOR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")

ENDPOINTS_DISABLED = Counter(
    "revflow_webhook_endpoints_disabled_total",
    "Webhook endpoints disabled (410, persistent failure, operator)",
    ["connector", "cause"],
)
ENDPOINT_DISABLED = Gauge(
    "revflow_webhook_endpoint_disabled", "1 while the webhook endpoint is disabled", ["connector"]
)
MESSAGES_PARKED = Counter(
    "revflow_webhook_messages_parked_total",
    "Webhook messages kept unsent because their endpoint is disabled",
    ["connector"],
)
MESSAGES_REPLAYED = Counter(
    "revflow_webhook_messages_replayed_total", "Parked webhook messages replayed", ["connector"]
)


@dataclass(frozen=True)
class DisablePolicy:
    """When failures disable an endpoint (410 always does)."""

    after_s: float = 5 * 86400.0  # failing this long without a success in between
    after_failures: int = 0  # this many failed attempts in a row; 0: off


_generation = 0  # bumped when an endpoint's state changes in this process


def generation() -> int:
    """Changes whenever an endpoint is enabled or disabled in this process: guards that
    keep an endpoint row (``EndpointGuard``) read it again when it has moved."""
    return _generation


def _bump(*_: object) -> None:
    global _generation
    _generation += 1


def changed(s: AsyncSession) -> None:
    """An endpoint's state changes in ``s``: guards re-read it now and again once the
    caller's transaction commits (a read before the commit sees the old row)."""
    _bump()
    event.listen(s.sync_session, "after_commit", _bump, once=True)


def check_name(connector: str) -> None:
    if not CONNECTOR_NAME.match(connector):
        raise BadRequest(f"{connector[:70]!r} is not a connector name ([A-Za-z0-9_.-], 1-64)")


async def get_endpoint(s: AsyncSession, connector: str) -> WebhookEndpoint | None:
    return await repository.get_endpoint(s, connector)


# -- failures, successes, disabling --------------------------------------------------


async def record_success(s: AsyncSession, connector: str) -> None:
    """A 2xx ends the failure streak (written only when there was one)."""
    await repository.end_failure_streak(s, connector, utcnow())


async def record_failure(
    s: AsyncSession,
    connector: str,
    url: str,
    error: str,
    policy: DisablePolicy,
    *,
    gone: bool = False,
) -> str | None:
    """Count a failed attempt; disable the endpoint when ``policy`` (or a 410) says so.

    Returns the reason the endpoint is disabled (now, or already), else ``None``.
    """
    now = utcnow()
    cause = ""
    row = await repository.ensure_endpoint(s, connector, url, ENABLED)
    if row.state == DISABLED:
        return row.disabled_reason or PARKED_NOTE
    row.consecutive_failures = (row.consecutive_failures or 0) + 1
    first = aware(row.first_failure_at) if row.first_failure_at else now
    row.first_failure_at = first
    row.last_failure_at = now
    row.last_error = error[:2000]
    reason = None
    if gone:
        reason, cause = f"410 Gone: {error}", "gone"
    elif policy.after_failures and row.consecutive_failures >= policy.after_failures:
        reason = f"{row.consecutive_failures} failed attempts in a row; last: {error}"
        cause = "failures"
    elif (now - first).total_seconds() >= policy.after_s:
        reason = (
            f"failing since {first.isoformat()} ({row.consecutive_failures} failed "
            f"attempts, no success); last: {error}"
        )
        cause = "failing_too_long"
    if reason is not None:
        await disable_row(s, row, reason[:2000], SYSTEM_ACTOR, now)
        disabled_metrics(connector, cause)
    return reason


async def disable_row(
    s: AsyncSession, row: WebhookEndpoint, reason: str, actor: str, now: datetime
) -> None:
    row.state = DISABLED
    changed(s)
    row.disabled_reason = reason
    row.disabled_at = now
    row.disabled_by = actor
    incident = await incidents.open_unkeyed(
        s,
        INCIDENT_KIND,
        {"connector": row.connector, "url": row.url, "reason": reason},
        "messages are kept (parked); enable the endpoint, then replay them",
        now,
    )
    row.incident_id = incident.id
    await raise_alert(s, endpoint_disabled(row.connector, reason))
    audit.record(
        s,
        actor,
        ALERT,
        connector=row.connector,
        url=row.url,
        reason=reason,
        consecutive_failures=row.consecutive_failures,
        first_failure_at=row.first_failure_at.isoformat() if row.first_failure_at else None,
        incident_id=incident.id,
    )
    log.warning(
        "webhook endpoint disabled",
        extra={"connector": row.connector, "url": row.url, "reason": reason},
    )


def disabled_metrics(connector: str, cause: str) -> None:
    ENDPOINTS_DISABLED.labels(connector=connector, cause=cause).inc()
    ENDPOINT_DISABLED.labels(connector=connector).set(1)


async def mark_parked(s: AsyncSession, connector: str, idempotency_key: str, reason: str) -> None:
    """Note on the running step why it is being parked (the worker keeps the note)."""
    await repository.note_running_step(s, connector, idempotency_key, f"{PARKED_NOTE}: {reason}")
    MESSAGES_PARKED.labels(connector=connector).inc()
