"""The salesforce package's named queries: the write-back outbox, API usage, and the
plan a refused write-back is noted on.

Functions take the caller's session and never commit; the flusher's loop, the route
or the command owns the transaction.  ``lock`` asks for ``FOR UPDATE SKIP LOCKED``
(PostgreSQL; SQLite serialises writers instead).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import OutboxOperation, OutboxState, Plan, SalesforceApiUsage, WritebackItem
from revflow.db.upsert import upsert

# -- the outbox (writeback_items) -----------------------------------------------------------


def due(now: datetime) -> ColumnElement[bool]:
    """Pending items that are due and not leased (or whose lease expired)."""
    return and_(
        WritebackItem.state == OutboxState.PENDING,
        WritebackItem.due_at <= now,
        or_(WritebackItem.lease_expires_at.is_(None), WritebackItem.lease_expires_at < now),
    )


async def due_summary(s: AsyncSession, now: datetime) -> tuple[int, datetime | None]:
    """How many records have items due, and when the oldest due item was queued."""
    row = (
        await s.execute(
            select(
                func.count(func.distinct(WritebackItem.record_id)),
                func.min(WritebackItem.created_at),
            ).where(due(now))
        )
    ).one()
    return int(row[0] or 0), row[1]


async def due_items(
    s: AsyncSession, now: datetime, limit: int, *, lock: bool
) -> list[WritebackItem]:
    q = select(WritebackItem).where(due(now)).order_by(WritebackItem.id).limit(limit)
    if lock:
        q = q.with_for_update(skip_locked=True)
    return list((await s.scalars(q)).all())


async def failed_updates(
    s: AsyncSession, record_ids: Collection[str], *, lock: bool
) -> list[WritebackItem]:
    """Failed updates of these records (a newer update may carry them again)."""
    q = select(WritebackItem).where(
        WritebackItem.state == OutboxState.FAILED,
        WritebackItem.operation == OutboxOperation.UPDATE,
        WritebackItem.record_id.in_(record_ids),
    )
    if lock:
        q = q.with_for_update(skip_locked=True)
    return list((await s.scalars(q)).all())


async def lease_items(
    s: AsyncSession, ids: Collection[int], owner: str, expires_at: datetime
) -> None:
    await s.execute(
        update(WritebackItem)
        .where(WritebackItem.id.in_(ids))
        .values(lease_owner=owner, lease_expires_at=expires_at)
    )


async def unlease_items(s: AsyncSession, ids: Collection[int], owner: str) -> None:
    """Give back ``owner``'s leases on these items (they stay pending)."""
    await s.execute(
        update(WritebackItem)
        .where(WritebackItem.id.in_(ids), WritebackItem.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


async def set_items(s: AsyncSession, ids: Collection[int], **values: Any) -> None:
    """Set ``values`` on the items (an outcome, a new due time, an error)."""
    await s.execute(update(WritebackItem).where(WritebackItem.id.in_(ids)).values(**values))


async def finish_items(
    s: AsyncSession, ids: Collection[int], state: OutboxState, **values: Any
) -> None:
    """Put the items in ``state`` and release their lease."""
    await set_items(s, ids, state=state, lease_owner=None, lease_expires_at=None, **values)


# -- the plan a refused write-back is noted on ---------------------------------------------


async def latest_plan(s: AsyncSession, order_id: str) -> Plan | None:
    """The Order's newest plan."""
    q = select(Plan).where(Plan.order_id == order_id).order_by(Plan.id.desc()).limit(1)
    return (await s.scalars(q)).first()


async def set_plan_error(s: AsyncSession, plan_id: int, error: str) -> None:
    await s.execute(update(Plan).where(Plan.id == plan_id).values(error=error))


# -- API usage (salesforce_api_usage, one row per hour) ---------------------------------------


async def add_usage(
    s: AsyncSession,
    hour: datetime,
    calls: int,
    org_used: int | None,
    org_limit: int | None,
    now: datetime,
) -> None:
    """Add ``calls`` to the hour's row; the org's latest figures replace the row's."""
    ins = upsert(s)(SalesforceApiUsage).values(
        hour=hour, calls=calls, org_used=org_used, org_limit=org_limit, updated_at=now
    )
    await s.execute(
        ins.on_conflict_do_update(
            index_elements=["hour"],
            set_={
                "calls": SalesforceApiUsage.calls + ins.excluded.calls,
                "org_used": ins.excluded.org_used,
                "org_limit": ins.excluded.org_limit,
                "updated_at": ins.excluded.updated_at,
            },
        )
    )


async def calls_since(s: AsyncSession, since: datetime) -> int:
    total = await s.scalar(
        select(func.coalesce(func.sum(SalesforceApiUsage.calls), 0)).where(
            SalesforceApiUsage.hour >= since
        )
    )
    return int(total or 0)


async def last_org_figures(s: AsyncSession) -> tuple[int | None, int | None] | None:
    """The org's used/limit figures last recorded (after a restart), if any."""
    row = (
        await s.execute(
            select(SalesforceApiUsage.org_used, SalesforceApiUsage.org_limit)
            .where(SalesforceApiUsage.org_limit.is_not(None))
            .order_by(SalesforceApiUsage.hour.desc())
            .limit(1)
        )
    ).first()
    return (row.org_used, row.org_limit) if row is not None else None


async def usage_since(s: AsyncSession, since: datetime) -> list[SalesforceApiUsage]:
    q = (
        select(SalesforceApiUsage)
        .where(SalesforceApiUsage.hour >= since)
        .order_by(SalesforceApiUsage.hour)
    )
    return list((await s.scalars(q)).all())
