"""The operator's actions on a webhook endpoint: disable, enable, replay parked messages.

Each runs in the caller's transaction (the route or command opens it) and records an
audit entry naming the actor and the reason; a refused action raises ``BadRequest``,
``NotFound`` or ``Conflict`` and the caller's transaction rolls back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit, incidents
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.connectors.webhook import webhook_id_for
from revflow.orchestration.actors import check_actor
from revflow.orchestration.progress import settle
from revflow.orchestration.repository import lock_plan, on_sqlite
from revflow.webhooks import repository
from revflow.webhooks.endpoints import (
    DISABLED,
    ENABLED,
    ENDPOINT_DISABLED,
    MESSAGES_REPLAYED,
    changed,
    check_name,
    disable_row,
    disabled_metrics,
)
from revflow.webhooks.errors import BadRequest, Conflict, NotFound
from revflow.webhooks.status import parked_message

__all__ = ["disable", "enable", "replay"]

MAX_REPLAY = 10_000


async def disable(
    s: AsyncSession, connector: str, url: str, *, actor: str, reason: str
) -> dict[str, Any]:
    """Disable the endpoint by hand (e.g. the receiver is down for maintenance)."""
    check_name(connector)
    check_actor(actor, reason)
    row = await repository.ensure_endpoint(s, connector, url, ENABLED)
    if row.state == DISABLED:
        raise Conflict(f"webhook endpoint {connector!r} is already disabled")
    await disable_row(s, row, f"disabled by {actor}: {reason}", actor, utcnow())
    disabled_metrics(connector, "operator")
    return {"connector": connector, "state": DISABLED, "changed": True}


async def enable(s: AsyncSession, connector: str, *, actor: str, reason: str) -> dict[str, Any]:
    """Enable the endpoint; its parked messages stay parked until replayed."""
    check_name(connector)
    check_actor(actor, reason)
    now = utcnow()
    row = await repository.get_endpoint(s, connector, for_update=True)
    if row is None or row.state == ENABLED:
        return {"connector": connector, "state": ENABLED, "changed": False}
    was = row.disabled_reason
    row.state = ENABLED
    changed(s)
    row.disabled_reason = None
    row.disabled_at = None
    row.disabled_by = None
    row.consecutive_failures = 0
    row.first_failure_at = None
    if row.incident_id is not None:
        await incidents.resolve_by_id(s, row.incident_id, now)
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


async def replay(
    s: AsyncSession,
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
    endpoint = await repository.get_endpoint(s, connector)
    if endpoint is not None and endpoint.state == DISABLED:
        raise Conflict(f"webhook endpoint {connector!r} is disabled; enable it first")
    replayed: list[dict[str, Any]] = []
    rows = await repository.parked(s, connector, since=since, until=until, limit=MAX_REPLAY)
    if message_id is not None:
        rows = [r for r in rows if webhook_id_for(r.idempotency_key) == message_id]
        if not rows:
            raise await _why_not_parked(s, connector, message_id)
    for r in rows:
        plan = await lock_plan(s, r.plan_id, on_sqlite(s))
        if plan is None:
            continue
        if not await repository.unpark_step(s, r.id):
            continue  # moved meanwhile (skipped, cancelled)
        message = parked_message(r)
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
    state = await repository.step_state(s, connector, key)
    if state is not None:
        return Conflict(f"message {message_id} is not parked (its step is {state})")
    return NotFound(f"no parked message {message_id} for webhook endpoint {connector!r}")
