"""Queries on plans on hold because their validation step failed (re-validation and
the Quote gate), in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import Plan, PlanState, Step, StepState


async def plans_failed_validation(
    s: AsyncSession, order_ids: Sequence[str], validate_key: str
) -> dict[str, int]:
    """Order id -> plan id, for plans on hold because their ``validate_key`` step failed."""
    rows = (
        await s.execute(
            select(Plan.order_id, Plan.id)
            .join(Step, Step.plan_id == Plan.id)
            .where(
                Plan.order_id.in_(order_ids),
                Plan.state == PlanState.ON_HOLD,
                Step.key == validate_key,
                Step.state == StepState.FAILED,
            )
        )
    ).all()
    return {r.order_id: r.id for r in rows}


async def any_failed_validation(s: AsyncSession, id_prefix: str, validate_key: str) -> bool:
    """Whether some plan of a record whose id starts with ``id_prefix`` (a Quote's
    ``0Q0``) is on hold because its ``validate_key`` step failed."""
    found = await s.scalar(
        select(Plan.id)
        .join(Step, Step.plan_id == Plan.id)
        .where(
            Plan.order_id.startswith(id_prefix, autoescape=True),
            Plan.state == PlanState.ON_HOLD,
            Step.key == validate_key,
            Step.state == StepState.FAILED,
        )
        .limit(1)
    )
    return found is not None
