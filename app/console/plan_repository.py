"""The plan page's SQL: a plan, its steps, their connector attempts, the order's revisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import ConnectorAttempt, ConnectorCall, OrderSnapshot


@dataclass(frozen=True)
class AttemptRow:
    step_id: int
    action: str
    attempt: int
    outcome: str
    status_code: int | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    external_id: str | None


@dataclass(frozen=True)
class Revision:
    snapshot_id: int
    taken_at: datetime
    record: dict[str, Any]


async def attempts_of_steps(s: AsyncSession, step_ids: Sequence[int]) -> list[AttemptRow]:
    """Every connector attempt of these steps, in order."""
    if not step_ids:
        return []
    q = (
        select(
            ConnectorCall.step_id,
            ConnectorCall.action,
            ConnectorAttempt.attempt,
            ConnectorAttempt.outcome,
            ConnectorAttempt.status_code,
            ConnectorAttempt.error,
            ConnectorAttempt.started_at,
            ConnectorAttempt.finished_at,
            ConnectorCall.external_id,
        )
        .join(ConnectorCall, ConnectorCall.id == ConnectorAttempt.call_id)
        .where(ConnectorCall.step_id.in_(list(step_ids)))
        .order_by(ConnectorCall.step_id, ConnectorAttempt.attempt, ConnectorAttempt.id)
    )
    return [AttemptRow(*r) for r in (await s.execute(q)).all()]


async def revisions(s: AsyncSession, order_id: str, limit: int = 20) -> list[Revision]:
    """The order as read at each plan build or amendment, oldest first (the newest ``limit``)."""
    q = (
        select(OrderSnapshot)
        .where(OrderSnapshot.order_id == order_id)
        .order_by(OrderSnapshot.id.desc())
        .limit(limit)
    )
    rows = list((await s.scalars(q)).all())
    return [Revision(r.id, r.taken_at, r.record) for r in reversed(rows)]
