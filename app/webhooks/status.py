"""What operators read about webhook endpoints: state, parked messages, attempts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import aware, utcnow
from revflow.connectors.webhook import webhook_id_for
from revflow.db.models import WebhookEndpoint
from revflow.webhooks import repository
from revflow.webhooks.endpoints import ENABLED, check_name
from revflow.webhooks.errors import NotFound

__all__ = ["list_endpoints", "parked_message", "since_hours", "status"]


def parked_message(r: Any) -> dict[str, Any]:
    return {
        "message_id": webhook_id_for(r.idempotency_key),
        "plan_id": r.plan_id,
        "order_id": r.order_id,
        "step": r.key,
        "action": r.action,
        "created_at": aware(r.created_at) if r.created_at else None,
        "note": r.note,
    }


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


async def list_endpoints(s: AsyncSession, configured: dict[str, str]) -> list[dict[str, Any]]:
    """Every configured webhook endpoint and every one with a stored state."""
    rows = {r.connector: r for r in await repository.all_endpoints(s)}
    names = sorted(set(configured) | set(rows))
    return [_endpoint_out(n, configured.get(n, ""), rows.get(n)) for n in names]


async def status(
    s: AsyncSession,
    connector: str,
    configured: dict[str, str],
    *,
    attempts: int = 20,
    parked: int = 100,
) -> dict[str, Any]:
    """The endpoint's state, its parked messages (oldest first) and its latest attempts."""
    check_name(connector)
    row = await repository.get_endpoint(s, connector)
    if row is None and connector not in configured:
        raise NotFound(f"no webhook endpoint {connector!r}")
    count = await repository.parked_count(s, connector)
    kept = await repository.parked(s, connector, limit=parked)
    recent = await repository.latest_attempts(s, connector, attempts)
    return {
        **_endpoint_out(connector, configured.get(connector, ""), row),
        "parked_count": count,
        "parked": [parked_message(r) for r in kept],
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
