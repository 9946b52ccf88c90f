"""The fallout queue's SQL: fatally failed steps of open plans, with what groups them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import Plan, Step
from revflow.plans.state import FINAL_PLAN, StepState


@dataclass(frozen=True)
class FailedStepRow:
    plan_id: int
    order_id: str
    plan_state: str
    definition: str
    key: str
    kind: str
    connector: str | None
    action: str | None
    error: str | None
    attempts: int
    finished_at: datetime | None


async def failed_steps(
    s: AsyncSession, *, connector: str = "", limit: int = 500
) -> list[FailedStepRow]:
    """Fatally failed steps of plans not finished, oldest first."""
    q = (
        select(
            Step.plan_id,
            Plan.order_id,
            Plan.state,
            Plan.definition,
            Step.key,
            Step.kind,
            Step.connector,
            Step.action,
            Step.error,
            Step.attempts,
            Step.finished_at,
        )
        .join(Plan, Plan.id == Step.plan_id)
        .where(Step.state == StepState.FAILED, Plan.state.not_in(list(FINAL_PLAN)))
        .order_by(Step.finished_at, Step.id)
        .limit(limit)
    )
    if connector:
        q = q.where(Step.connector == connector)
    return [FailedStepRow(*r) for r in (await s.execute(q)).all()]


async def step_of(s: AsyncSession, plan_id: int, key: str) -> Step | None:
    """One step (for its kind and current input when editing a retry)."""
    return await s.scalar(select(Step).where(Step.plan_id == plan_id, Step.key == key))
