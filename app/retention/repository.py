"""Retention's queries: which payloads are due, and blanking or deleting them by id.

Purged JSON payloads are overwritten with ``PURGED`` through a plain JSON column
(never encrypted, so the marker is recognisable and rows are not counted twice).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Text, cast, column, delete, func, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from revflow.db.models import (
    ConnectorAttempt,
    ConnectorCall,
    DeadLetter,
    OrderSnapshot,
    OutboxState,
    Plan,
    PlanState,
    Signal,
    Step,
    WritebackItem,
)

PURGED: dict[str, Any] = {"purged": True}
_PURGED_TEXT = json.dumps(PURGED)
FINISHED = (PlanState.COMPLETED, PlanState.FAILED, PlanState.CANCELLED)


def _not_purged(col: Any) -> Any:
    return cast(col, Text) != _PURGED_TEXT


def _snapshots(cutoff: datetime) -> Select[Any]:
    open_orders = select(Plan.order_id).where(Plan.state.not_in(FINISHED))
    return select(OrderSnapshot.id).where(
        OrderSnapshot.taken_at < cutoff,
        OrderSnapshot.order_id.not_in(open_orders),
        _not_purged(OrderSnapshot.record),
    )


def _attempts(cutoff: datetime) -> Select[Any]:
    finished = (
        select(ConnectorCall.id)
        .join(Step, Step.id == ConnectorCall.step_id)
        .join(Plan, Plan.id == Step.plan_id)
        .where(Plan.state.in_(FINISHED))
    )
    return select(ConnectorAttempt.id).where(
        ConnectorAttempt.finished_at < cutoff,
        ConnectorAttempt.error.is_not(None),
        ConnectorAttempt.call_id.in_(finished),
    )


def _outbox(cutoff: datetime) -> Select[Any]:
    return select(WritebackItem.id).where(
        WritebackItem.state.in_((OutboxState.SENT, OutboxState.DROPPED)),
        WritebackItem.created_at < cutoff,
    )


def _signals(cutoff: datetime) -> Select[Any]:
    return select(Signal.id).where(
        Signal.consumed_by_step_id.is_not(None),
        Signal.received_at < cutoff,
        _not_purged(Signal.payload),
    )


def _dead_letters(cutoff: datetime) -> Select[Any]:
    return select(DeadLetter.id).where(
        DeadLetter.replayed_at.is_not(None),
        DeadLetter.created_at < cutoff,
        _not_purged(DeadLetter.payload),
    )


def _blank_json(tbl: str, col: str) -> Callable[[AsyncSession, list[int]], Any]:
    raw = table(tbl, column("id"), column(col, JSON()))

    async def run(s: AsyncSession, ids: list[int]) -> None:
        await s.execute(update(raw).where(raw.c.id.in_(ids)).values({col: PURGED}))

    return run


async def _null_attempt_errors(s: AsyncSession, ids: list[int]) -> None:
    await s.execute(update(ConnectorAttempt).where(ConnectorAttempt.id.in_(ids)).values(error=None))


async def _delete_outbox(s: AsyncSession, ids: list[int]) -> None:
    await s.execute(delete(WritebackItem).where(WritebackItem.id.in_(ids)))


# name -> (the ids due, how to purge them)
TARGETS: dict[str, tuple[Callable[[datetime], Select[Any]], Any]] = {
    "order_snapshots": (_snapshots, _blank_json("order_snapshots", "record")),
    "connector_attempts": (_attempts, _null_attempt_errors),
    "writeback_outbox": (_outbox, _delete_outbox),
    "signals": (_signals, _blank_json("signals", "payload")),
    "dead_letters": (_dead_letters, _blank_json("dead_letters", "payload")),
}


async def due_ids(s: AsyncSession, name: str, cutoff: datetime, limit: int) -> list[int]:
    query = TARGETS[name][0](cutoff)
    return list((await s.scalars(query.order_by(query.selected_columns[0]).limit(limit))).all())


async def due_count(s: AsyncSession, name: str, cutoff: datetime) -> int:
    query = TARGETS[name][0](cutoff)
    return int(await s.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def purge_ids(s: AsyncSession, name: str, ids: list[int]) -> None:
    await TARGETS[name][1](s, ids)
