"""The webhooks package's named queries: endpoint rows, parked steps, attempts.

Functions take the caller's session and never commit; the loop, route or command
that calls the service owns the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import (
    ConnectorAttempt,
    ConnectorCall,
    Plan,
    Step,
    StepState,
    WebhookEndpoint,
)
from revflow.db.upsert import upsert
from revflow.orchestration.repository import on_sqlite


async def get_endpoint(
    s: AsyncSession, connector: str, *, for_update: bool = False
) -> WebhookEndpoint | None:
    q = select(WebhookEndpoint).where(WebhookEndpoint.connector == connector)
    if for_update and not on_sqlite(s):
        q = q.with_for_update()
    return (await s.scalars(q)).one_or_none()


async def all_endpoints(s: AsyncSession) -> list[WebhookEndpoint]:
    return list((await s.scalars(select(WebhookEndpoint))).all())


async def ensure_endpoint(s: AsyncSession, connector: str, url: str, state: str) -> WebhookEndpoint:
    """The endpoint's row, locked, created in ``state`` if missing; its URL kept current."""
    await s.execute(
        upsert(s)(WebhookEndpoint)
        .values(connector=connector, url=url, state=state, consecutive_failures=0)
        .on_conflict_do_nothing(index_elements=["connector"])
    )
    row = await get_endpoint(s, connector, for_update=True)
    assert row is not None
    if url and row.url != url:
        row.url = url
    return row


async def end_failure_streak(s: AsyncSession, connector: str, now: datetime) -> None:
    """A success: reset the failure streak (written only when there was one)."""
    await s.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.connector == connector, WebhookEndpoint.consecutive_failures > 0)
        .values(consecutive_failures=0, first_failure_at=None, last_success_at=now)
    )


async def note_running_step(
    s: AsyncSession, connector: str, idempotency_key: str, note: str
) -> None:
    """Note on the running step of the message why it is being parked."""
    await s.execute(
        update(Step)
        .where(
            Step.idempotency_key == idempotency_key,
            Step.connector == connector,
            Step.state == StepState.RUNNING,
        )
        .values(note=note[:2000])
    )


def parked_query(connector: str) -> tuple[Any, Any]:
    """The endpoint's parked messages (waiting callout steps), first sent first; and the
    column to filter by when they were first sent."""
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


async def parked(
    s: AsyncSession,
    connector: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> list[Any]:
    q, sent_at = parked_query(connector)
    if since is not None:
        q = q.where(sent_at >= since)
    if until is not None:
        q = q.where(sent_at < until)
    return list((await s.execute(q.limit(limit))).all())


async def parked_count(s: AsyncSession, connector: str) -> int:
    q, _ = parked_query(connector)
    count = await s.scalar(select(func.count()).select_from(q.order_by(None).subquery()))
    return int(count or 0)


async def unpark_step(s: AsyncSession, step_id: int) -> bool:
    """``waiting -> pending`` with attempts reset; False if the step moved meanwhile."""
    done = await s.execute(
        update(Step)
        .where(Step.id == step_id, Step.state == StepState.WAITING)
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
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def step_state(s: AsyncSession, connector: str, idempotency_key: str) -> StepState | None:
    return await s.scalar(
        select(Step.state).where(
            Step.connector == connector, Step.idempotency_key == idempotency_key
        )
    )


async def latest_attempts(s: AsyncSession, connector: str, limit: int) -> list[Any]:
    """The connector's latest delivery attempts, newest first."""
    q = (
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
        .limit(limit)
    )
    return list((await s.execute(q)).all())
