"""Claim due steps (and due compensations) for a worker, as ``ClaimedStep``s."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import aware, utcnow
from revflow.db.database import Database
from revflow.db.models import StepState
from revflow.orchestration.claims import LEASED_COLUMNS, due_steps, lease_due_steps
from revflow.orchestration.compensation import claim_compensations
from revflow.orchestration.executor import ClaimedStep


async def claim(db: Database, owner: str, lease: timedelta, limit: int) -> list[ClaimedStep]:
    """Lease up to ``limit`` due steps, then compensations with what is left.

    One transaction for both: a claim runs several times a second per worker, and
    a second BEGIN/COMMIT for the (usually absent) compensations cost a round trip."""
    async with db.write() as s:
        steps = await claim_steps(s, owner, lease, limit)
        return steps + await claim_compensations(s, owner, lease, limit - len(steps))


async def claim_steps(
    s: AsyncSession, owner: str, lease: timedelta, limit: int
) -> list[ClaimedStep]:
    rows, plans = await lease_due_steps(
        s,
        due_steps,
        owner=owner,
        lease=lease,
        now=utcnow(),
        limit=limit,
        values={"state": StepState.RUNNING},
        columns=LEASED_COLUMNS,
    )
    return claimed(rows, plans)


def claimed(rows: Iterable[Any], plans: Mapping[int, Any]) -> list[ClaimedStep]:
    """Leased steps' rows (``LEASED_COLUMNS``) as ``ClaimedStep``s, with their plans'
    order, correlation and definition (claim rows or ``Plan``s, by id)."""
    return [
        ClaimedStep(
            id=r.id,
            plan_id=r.plan_id,
            key=r.key,
            kind=r.kind,
            connector=r.connector,
            action=r.action,
            attempt=r.attempts,
            idempotency_key=r.idempotency_key,
            input=r.input or {},
            order_id=plans[r.plan_id].order_id,
            correlation_id=plans[r.plan_id].correlation_id,
            definition=plans[r.plan_id].definition,
            wait_key=r.wait_key,
            wait_until=aware(r.wait_until) if r.wait_until else None,
            assignee=r.assignee,
            retry_policy=r.retry_policy,
        )
        for r in rows
    ]
