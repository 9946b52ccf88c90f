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

Every operator action (enable, disable, replay) is one transaction with an audit entry
naming the actor and the reason.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.clock import utcnow
from app.config import WritebackSettings
from app.db.database import Database
from app.db.models import (
    ConnectorAttempt,
    ConnectorCall,
    Incident,
    Plan,
    Step,
    StepState,
    WebhookEndpoint,
)
from app.db.upsert import upsert
from app.orchestration.actors import check_actor
from app.orchestration.errors import BadRequest, Conflict, NotFound
from app.orchestration.progress import aware, settle
from app.orchestration.repository import lock_plan
from connectors.webhook import webhook_id_for

__all__ = [
    "ALERT",
    "DISABLED",
    "ENABLED",
    "INCIDENT_KIND",
    "PARKED_NOTE",
    "DisablePolicy",
    "disable",
    "enable",
    "get_endpoint",
    "list_endpoints",
    "mark_parked",
    "record_failure",
    "record_success",
    "replay",
    "status",
]

log = logging.getLogger("revflow.webhooks")

ENABLED, DISABLED = "enabled", "disabled"
ALERT = "webhook.endpoint_disabled"  # the audit action operators alert on
INCIDENT_KIND = "webhook_endpoint_disabled"
PARKED_NOTE = "endpoint disabled"
SYSTEM_ACTOR = "webhooks"
CONNECTOR_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
MAX_REPLAY = 10_000

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


def check_name(connector: str) -> None:
    if not CONNECTOR_NAME.match(connector):
        raise BadRequest(f"{connector[:70]!r} is not a connector name ([A-Za-z0-9_.-], 1-64)")


async def _row(s: AsyncSession, connector: str, is_sqlite: bool) -> WebhookEndpoint | None:
    q = select(WebhookEndpoint).where(WebhookEndpoint.connector == connector)
    if not is_sqlite:
        q = q.with_for_update()
    return (await s.scalars(q)).one_or_none()


async def _ensure_row(
    s: AsyncSession, connector: str, url: str, is_sqlite: bool
) -> WebhookEndpoint:
    await s.execute(
        upsert(s)(WebhookEndpoint)
        .values(connector=connector, url=url, state=ENABLED, consecutive_failures=0)
        .on_conflict_do_nothing(index_elements=["connector"])
    )
    row = await _row(s, connector, is_sqlite)
    assert row is not None
    if url and row.url != url:
        row.url = url
    return row


async def get_endpoint(db: Database, connector: str) -> WebhookEndpoint | None:
    async with db.read() as s:
        return (
            await s.scalars(select(WebhookEndpoint).where(WebhookEndpoint.connector == connector))
        ).one_or_none()


# -- failures, successes, disabling --------------------------------------------------


async def record_success(db: Database, connector: str) -> None:
    """A 2xx ends the failure streak (written only when there was one)."""
    async with db.write() as s:
        await s.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.connector == connector, WebhookEndpoint.consecutive_failures > 0)
            .values(consecutive_failures=0, first_failure_at=None, last_success_at=utcnow())
        )


async def record_failure(
    db: Database,
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
    async with db.write() as s:
        row = await _ensure_row(s, connector, url, db.is_sqlite)
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
            await _disable(s, row, reason[:2000], SYSTEM_ACTOR, now)
    if reason is not None:
        _disabled_metrics(connector, cause)
    return reason


async def _disable(
    s: AsyncSession, row: WebhookEndpoint, reason: str, actor: str, now: datetime
) -> None:
    row.state = DISABLED
    row.disabled_reason = reason
    row.disabled_at = now
    row.disabled_by = actor
    incident = Incident(
        kind=INCIDENT_KIND,
        detail={"connector": row.connector, "url": row.url, "reason": reason},
        recovery="messages are kept (parked); enable the endpoint, then replay them",
        created_at=now,
    )
    s.add(incident)
    await s.flush()
    row.incident_id = incident.id
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


def _disabled_metrics(connector: str, cause: str) -> None:
    ENDPOINTS_DISABLED.labels(connector=connector, cause=cause).inc()
    ENDPOINT_DISABLED.labels(connector=connector).set(1)


async def mark_parked(db: Database, connector: str, idempotency_key: str, reason: str) -> None:
    """Note on the running step why it is being parked (the worker keeps the note)."""
    async with db.write() as s:
        await s.execute(
            update(Step)
            .where(
                Step.idempotency_key == idempotency_key,
                Step.connector == connector,
                Step.state == StepState.RUNNING,
            )
            .values(note=f"{PARKED_NOTE}: {reason}"[:2000])
        )
    MESSAGES_PARKED.labels(connector=connector).inc()


# -- operator actions ----------------------------------------------------------------


async def disable(
    db: Database, connector: str, url: str, *, actor: str, reason: str
) -> dict[str, Any]:
    """Disable the endpoint by hand (e.g. the receiver is down for maintenance)."""
    check_name(connector)
    check_actor(actor, reason)
    async with db.write() as s:
        row = await _ensure_row(s, connector, url, db.is_sqlite)
        if row.state == DISABLED:
            raise Conflict(f"webhook endpoint {connector!r} is already disabled")
        await _disable(s, row, f"disabled by {actor}: {reason}", actor, utcnow())
    _disabled_metrics(connector, "operator")
    return {"connector": connector, "state": DISABLED, "changed": True}


async def enable(db: Database, connector: str, *, actor: str, reason: str) -> dict[str, Any]:
    """Enable the endpoint; its parked messages stay parked until replayed."""
    check_name(connector)
    check_actor(actor, reason)
    now = utcnow()
    async with db.write() as s:
        row = await _row(s, connector, db.is_sqlite)
        if row is None or row.state == ENABLED:
            return {"connector": connector, "state": ENABLED, "changed": False}
        was = row.disabled_reason
        row.state = ENABLED
        row.disabled_reason = None
        row.disabled_at = None
        row.disabled_by = None
        row.consecutive_failures = 0
        row.first_failure_at = None
        if row.incident_id is not None:
            await s.execute(
                update(Incident)
                .where(Incident.id == row.incident_id, Incident.resolved_at.is_(None))
                .values(resolved_at=now)
            )
        row.incident_id = None
        audit.record(
            s,
            actor,
            "webhook.endpoint_enabled",
            connector=connector,
            reason=reason,
            was_disabled_because=was,
        )
    ENDPOINT_DISABLED.labels(connector=connector).set(0)
    return {"connector": connector, "state": ENABLED, "changed": True}


def _parked_query(connector: str) -> tuple[Any, Any]:
    sent_at = func.coalesce(ConnectorCall.created_at, Step.started_at)
    return (
        select(
            Step.id,
            Step.plan_id,
            Step.key,
            Step.action,
            Step.idempotency_key,
            Step.note,
            Step.attempts,
            Plan.order_id,
            sent_at.label("created_at"),
        )
        .join(Plan, Plan.id == Step.plan_id)
        .outerjoin(ConnectorCall, ConnectorCall.idempotency_key == Step.idempotency_key)
        .where(
            Step.kind == "callout",
            Step.connector == connector,
            Step.state == StepState.WAITING,
        )
        .order_by(sent_at, Step.id)
    ), sent_at


def _message(r: Any) -> dict[str, Any]:
    return {
        "message_id": webhook_id_for(r.idempotency_key),
        "plan_id": r.plan_id,
        "order_id": r.order_id,
        "step": r.key,
        "action": r.action,
        "created_at": aware(r.created_at) if r.created_at else None,
        "note": r.note,
    }


async def replay(
    db: Database,
    writeback: WritebackSettings,
    connector: str,
    *,
    actor: str,
    reason: str,
    message_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Send parked messages again: the one with ``message_id`` (its ``webhook-id``), or
    those first sent (parked, if never sent) in ``[since, until)``.

    The endpoint must be enabled.  Each message's step goes ``waiting -> pending`` with
    its attempts reset and is readied by ``settle``; its idempotency key, hence its
    ``webhook-id``, is unchanged.
    """
    check_name(connector)
    check_actor(actor, reason)
    if message_id is not None and (since is not None or until is not None):
        raise BadRequest("give message_id, or since/until, not both")
    if message_id is None and since is None and until is None:
        raise BadRequest("give message_id, or since and/or until")
    if message_id is not None and not (0 < len(message_id) <= 200):
        raise BadRequest("message_id must be 1 to 200 characters")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise BadRequest(f"{name} needs a timezone (e.g. 2026-11-27T10:00:00Z)")
    if since is not None and until is not None and since >= until:
        raise BadRequest("since must be before until")
    endpoint = await get_endpoint(db, connector)
    if endpoint is not None and endpoint.state == DISABLED:
        raise Conflict(f"webhook endpoint {connector!r} is disabled; enable it first")
    q, sent_at = _parked_query(connector)
    if since is not None:
        q = q.where(sent_at >= since)
    if until is not None:
        q = q.where(sent_at < until)
    replayed: list[dict[str, Any]] = []
    async with db.write() as s:
        rows = list((await s.execute(q.limit(MAX_REPLAY))).all())
        if message_id is not None:
            rows = [r for r in rows if webhook_id_for(r.idempotency_key) == message_id]
            if not rows:
                raise await _why_not_parked(s, connector, message_id)
        for r in rows:
            plan = await lock_plan(s, r.plan_id, db.is_sqlite)
            if plan is None:
                continue
            done = await s.execute(
                update(Step)
                .where(Step.id == r.id, Step.state == StepState.WAITING)
                .values(
                    state=StepState.PENDING,
                    attempts=0,
                    due_at=None,
                    error=None,
                    note=None,
                    finished_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                continue  # moved meanwhile (skipped, cancelled)
            message = _message(r)
            audit.record(
                s,
                actor,
                "webhook.replayed",
                plan_id=plan.id,
                order_id=plan.order_id,
                correlation_id=plan.correlation_id,
                connector=connector,
                message_id=message["message_id"],
                step=r.key,
                reason=reason,
            )
            await settle(s, plan, writeback, actor, step=r.key, reason=reason)
            replayed.append(message)
        audit.record(
            s,
            actor,
            "webhook.replay",
            connector=connector,
            reason=reason,
            message_id=message_id,
            since=since.isoformat() if since else None,
            until=until.isoformat() if until else None,
            replayed=len(replayed),
        )
    MESSAGES_REPLAYED.labels(connector=connector).inc(len(replayed))
    return {"connector": connector, "replayed": len(replayed), "messages": replayed}


async def _why_not_parked(s: AsyncSession, connector: str, message_id: str) -> Exception:
    key = message_id.removeprefix("msg_")
    state = await s.scalar(
        select(Step.state).where(Step.connector == connector, Step.idempotency_key == key)
    )
    if state is not None:
        return Conflict(f"message {message_id} is not parked (its step is {state})")
    return NotFound(f"no parked message {message_id} for webhook endpoint {connector!r}")


# -- reading ------------------------------------------------------------------------


def _endpoint_out(connector: str, url: str, row: WebhookEndpoint | None) -> dict[str, Any]:
    def when(value: datetime | None) -> datetime | None:
        return aware(value) if value else None

    return {
        "connector": connector,
        "url": (row.url if row is not None and row.url else url),
        "state": row.state if row is not None else ENABLED,
        "disabled_reason": row.disabled_reason if row is not None else None,
        "disabled_at": when(row.disabled_at) if row is not None else None,
        "disabled_by": row.disabled_by if row is not None else None,
        "consecutive_failures": row.consecutive_failures if row is not None else 0,
        "first_failure_at": when(row.first_failure_at) if row is not None else None,
        "last_failure_at": when(row.last_failure_at) if row is not None else None,
        "last_success_at": when(row.last_success_at) if row is not None else None,
        "last_error": row.last_error if row is not None else None,
    }


async def list_endpoints(db: Database, configured: dict[str, str]) -> list[dict[str, Any]]:
    """Every configured webhook endpoint and every one with a stored state."""
    async with db.read() as s:
        rows = {r.connector: r for r in (await s.scalars(select(WebhookEndpoint))).all()}
    names = sorted(set(configured) | set(rows))
    return [_endpoint_out(n, configured.get(n, ""), rows.get(n)) for n in names]


async def status(
    db: Database,
    connector: str,
    configured: dict[str, str],
    *,
    attempts: int = 20,
    parked: int = 100,
) -> dict[str, Any]:
    """The endpoint's state, its parked messages (oldest first) and its latest attempts."""
    check_name(connector)
    row = await get_endpoint(db, connector)
    if row is None and connector not in configured:
        raise NotFound(f"no webhook endpoint {connector!r}")
    q, _ = _parked_query(connector)
    tries = (
        select(
            ConnectorCall.idempotency_key,
            ConnectorCall.action,
            ConnectorAttempt.attempt,
            ConnectorAttempt.outcome,
            ConnectorAttempt.status_code,
            ConnectorAttempt.error,
            ConnectorAttempt.started_at,
            ConnectorAttempt.finished_at,
        )
        .join(ConnectorCall, ConnectorCall.id == ConnectorAttempt.call_id)
        .where(ConnectorCall.connector == connector)
        .order_by(ConnectorAttempt.id.desc())
        .limit(attempts)
    )
    async with db.read() as s:
        count = await s.scalar(select(func.count()).select_from(q.order_by(None).subquery()))
        kept = (await s.execute(q.limit(parked))).all()
        recent = (await s.execute(tries)).all()
    return {
        **_endpoint_out(connector, configured.get(connector, ""), row),
        "parked_count": int(count or 0),
        "parked": [_message(r) for r in kept],
        "attempts": [
            {
                "message_id": webhook_id_for(a.idempotency_key),
                "action": a.action,
                "attempt": a.attempt,
                "outcome": a.outcome,
                "status_code": a.status_code,
                "error": a.error,
                "started_at": aware(a.started_at) if a.started_at else None,
                "finished_at": aware(a.finished_at) if a.finished_at else None,
            }
            for a in recent
        ],
    }


def since_hours(hours: float) -> datetime:
    """``now - hours`` (for the CLI's ``--since-hours``)."""
    return utcnow() - timedelta(hours=hours)
