"""Every query on ``alerts`` and ``alert_deliveries``.

Functions take the caller's session and never commit: the worker's batch, the
delivery loop, the route or the command owns the transaction.  ``lock`` asks for
``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises writers instead).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import (
    Alert,
    AlertDelivery,
    AlertState,
    DeliveryState,
    OrderSnapshot,
    Plan,
)


async def plan_order(s: AsyncSession, plan_id: int) -> tuple[str | None, dict[str, Any] | None]:
    """The plan's definition name and its Order as last read (the snapshot record)."""
    row = (
        await s.execute(
            select(Plan.definition, OrderSnapshot.record)
            .join(OrderSnapshot, OrderSnapshot.id == Plan.snapshot_id)
            .where(Plan.id == plan_id)
        )
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


async def open_alert(s: AsyncSession, open_key: str) -> Alert | None:
    return await s.scalar(select(Alert).where(Alert.open_key == open_key))


async def opened_since(s: AsyncSession, rule: str, since: datetime) -> int:
    """How many alerts of ``rule`` were sent (not throttled) since ``since``."""
    q = select(func.count(Alert.id)).where(
        Alert.rule == rule, Alert.created_at >= since, Alert.throttled.is_(False)
    )
    return int(await s.scalar(q) or 0)


async def get(s: AsyncSession, alert_id: int, *, lock: bool = False) -> Alert | None:
    q = select(Alert).where(Alert.id == alert_id)
    if lock:
        q = q.with_for_update()
    return await s.scalar(q)


async def alerts_by_id(s: AsyncSession, ids: Collection[int]) -> dict[int, Alert]:
    rows = await s.scalars(select(Alert).where(Alert.id.in_(ids)))
    return {a.id: a for a in rows}


async def list_alerts(
    s: AsyncSession,
    *,
    state: str | None = None,
    plan_id: int | None = None,
    order_id: str | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Newest first."""
    q = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if state is not None:
        q = q.where(Alert.state == state)
    if plan_id is not None:
        q = q.where(Alert.plan_id == plan_id)
    if order_id is not None:
        q = q.where(Alert.order_id == order_id)
    return list((await s.scalars(q)).all())


async def deliveries_of(s: AsyncSession, alert_id: int) -> list[AlertDelivery]:
    q = select(AlertDelivery).where(AlertDelivery.alert_id == alert_id).order_by(AlertDelivery.id)
    return list((await s.scalars(q)).all())


async def due_escalations(s: AsyncSession, now: datetime, limit: int, *, lock: bool) -> list[Alert]:
    """Open alerts whose next escalation is due."""
    q = (
        select(Alert)
        .where(Alert.state == AlertState.OPEN, Alert.next_escalation_at <= now)
        .order_by(Alert.next_escalation_at)
        .limit(limit)
    )
    if lock:
        q = q.with_for_update(skip_locked=True)
    return list((await s.scalars(q)).all())


def _due(now: datetime) -> Any:
    return and_(
        AlertDelivery.state == DeliveryState.PENDING,
        AlertDelivery.due_at <= now,
        or_(AlertDelivery.lease_expires_at.is_(None), AlertDelivery.lease_expires_at < now),
    )


async def due_deliveries(
    s: AsyncSession, now: datetime, limit: int, *, lock: bool
) -> list[AlertDelivery]:
    q = select(AlertDelivery).where(_due(now)).order_by(AlertDelivery.due_at).limit(limit)
    if lock:
        q = q.with_for_update(skip_locked=True)
    return list((await s.scalars(q)).all())


async def next_due(s: AsyncSession) -> datetime | None:
    """When the next pending delivery is due."""
    q = select(func.min(AlertDelivery.due_at)).where(AlertDelivery.state == DeliveryState.PENDING)
    return await s.scalar(q)


async def lease(s: AsyncSession, ids: Collection[int], owner: str, until: datetime) -> None:
    await s.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id.in_(ids))
        .values(lease_owner=owner, lease_expires_at=until)
    )


async def finish(s: AsyncSession, delivery_id: int, owner: str, **values: Any) -> bool:
    """Record an outcome if ``owner`` still holds the lease; whether it did."""
    result = await s.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id, AlertDelivery.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None, **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def cancel_pending(s: AsyncSession, alert_id: int, reason: str) -> None:
    await s.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.alert_id == alert_id,
            AlertDelivery.state == DeliveryState.PENDING,
        )
        .values(
            state=DeliveryState.CANCELLED, error=reason, lease_owner=None, lease_expires_at=None
        )
    )


async def open_alerts_of_plan(s: AsyncSession, plan_id: int, kinds: Collection[str]) -> list[Alert]:
    q = select(Alert).where(
        Alert.plan_id == plan_id,
        Alert.kind.in_(kinds),
        Alert.state.in_((AlertState.OPEN, AlertState.ACKNOWLEDGED)),
    )
    return list((await s.scalars(q)).all())


async def open_alerts_of_subject(s: AsyncSession, kind: str, subject: str) -> list[Alert]:
    q = select(Alert).where(
        Alert.kind == kind,
        Alert.subject == subject,
        Alert.state.in_((AlertState.OPEN, AlertState.ACKNOWLEDGED)),
    )
    return list((await s.scalars(q)).all())


async def delivery_counts(s: AsyncSession) -> dict[str, int]:
    """Deliveries by state (for ``revflow alerts status`` and tests)."""
    rows = await s.execute(
        select(AlertDelivery.state, func.count(AlertDelivery.id)).group_by(AlertDelivery.state)
    )
    return {str(state): int(n) for state, n in rows.all()}


def _history_filter(
    q: Any, state: str | None, kind: str | None, severity: str | None, plan_id: int | None
) -> Any:
    if state is not None:
        q = q.where(Alert.state == state)
    if kind is not None:
        q = q.where(Alert.kind == kind)
    if severity is not None:
        q = q.where(Alert.severity == severity)
    if plan_id is not None:
        q = q.where(Alert.plan_id == plan_id)
    return q


async def alert_history(
    s: AsyncSession,
    *,
    state: str | None = None,
    kind: str | None = None,
    severity: str | None = None,
    plan_id: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Alert], int]:
    """One page of alerts, open first, then acknowledged, then resolved, newest first
    within each; and how many match in all."""
    rank = case(
        (Alert.state == AlertState.OPEN, 0),
        (Alert.state == AlertState.ACKNOWLEDGED, 1),
        else_=2,
    )
    q = _history_filter(select(Alert), state, kind, severity, plan_id)
    rows = await s.scalars(q.order_by(rank, Alert.id.desc()).offset(offset).limit(limit))
    counted = _history_filter(select(func.count(Alert.id)), state, kind, severity, plan_id)
    total = await s.scalar(counted)
    return list(rows.all()), int(total or 0)


async def deliveries_of_alerts(
    s: AsyncSession, alert_ids: Collection[int]
) -> dict[int, list[AlertDelivery]]:
    """The deliveries of each alert, oldest first."""
    out: dict[int, list[AlertDelivery]] = {i: [] for i in alert_ids}
    if not alert_ids:
        return out
    q = (
        select(AlertDelivery)
        .where(AlertDelivery.alert_id.in_(alert_ids))
        .order_by(AlertDelivery.alert_id, AlertDelivery.id)
    )
    for d in await s.scalars(q):
        out[d.alert_id].append(d)
    return out
