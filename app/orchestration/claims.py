"""Lease due steps: the one claim both the worker and compensations use.

Picks up to ``limit`` steps matching ``due`` (oldest plan first, so orders finish one
by one; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), then leases them in one UPDATE
that re-checks ``due``: on SQLite the SELECT runs before the write lock is taken, so
another process may have claimed some meanwhile.  Returns the leased steps' columns
and the plans they belong to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update

from app.db.database import Database
from app.db.models import Plan, Step

PlanRow = Any  # a row of Plan.id, order_id, correlation_id, definition


async def lease_due_steps(
    db: Database,
    due: ColumnElement[bool],
    *,
    owner: str,
    lease: timedelta,
    now: datetime,
    limit: int,
    columns: Sequence[Any],
    values: Mapping[str, Any] | None = None,
) -> tuple[list[Any], dict[int, PlanRow]]:
    """Lease due steps (``values`` set too); their ``columns`` and their plans by id."""
    pick = select(Step.id).where(due).order_by(Step.plan_id, Step.due_at).limit(limit)
    if not db.is_sqlite:
        pick = pick.with_for_update(skip_locked=True)
    async with db.write() as s:
        ids = list((await s.scalars(pick)).all())
        if not ids:
            return [], {}
        rows = list(
            (
                await s.execute(
                    update(Step)
                    .where(Step.id.in_(ids), due)
                    .values(
                        lease_owner=owner,
                        lease_expires_at=now + lease,
                        attempts=Step.attempts + 1,
                        started_at=now,
                        **(values or {}),
                    )
                    .returning(Step.id, Step.plan_id, *columns)
                )
            ).all()
        )
        plans = {
            p.id: p
            for p in (
                await s.execute(
                    select(Plan.id, Plan.order_id, Plan.correlation_id, Plan.definition).where(
                        Plan.id.in_({r.plan_id for r in rows})
                    )
                )
            ).all()
        }
    return rows, plans
