"""Settle a plan after its steps changed, inside the caller's transaction.

Used by the worker (step outcomes, signals, timeouts) and by operator actions:
ready the steps whose dependencies are done, derive the plan state and hold reason,
and, when they changed, write them to the Order (status map) and the audit log;
then refresh the plan's and steps' jeopardy (see ``jeopardy_watch``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.clock import utcnow
from app.config import WritebackSettings
from app.db.models import Plan, PlanState, Step, StepState
from app.orchestration.jeopardy_watch import refresh
from app.orchestration.ponr import REFUSED
from app.orchestration.state import FINAL_PLAN, StepView, advance, check_plan_transition
from app.orchestration.status import write_plan_state, write_step_state


async def lock_plan(s: AsyncSession, plan_id: int, is_sqlite: bool) -> Plan | None:
    """The plan row, locked on PostgreSQL so sibling changes are serialised."""
    q = select(Plan).where(Plan.id == plan_id)
    if not is_sqlite:
        q = q.with_for_update()
    return (await s.scalars(q)).one_or_none()


async def step_views(s: AsyncSession, plan_id: int) -> list[StepView]:
    rows = (
        await s.execute(
            select(Step.key, Step.state, Step.depends_on, Step.kind)
            .where(Step.plan_id == plan_id)
            .order_by(Step.position)
        )
    ).all()
    return [StepView(r.key, StepState(r.state), tuple(r.depends_on), r.kind) for r in rows]


async def hold_reason(s: AsyncSession, plan_id: int) -> str | None:
    """``"<step>: <error>"`` of the first fatally failed step, if any."""
    row = (
        await s.execute(
            select(Step.key, Step.error)
            .where(Step.plan_id == plan_id, Step.state == StepState.FAILED)
            .order_by(Step.position)
            .limit(1)
        )
    ).first()
    return f"{row.key}: {row.error or 'failed'}" if row else None


async def settle(
    s: AsyncSession,
    plan: Plan,
    writeback: WritebackSettings,
    actor: str,
    *,
    forced: PlanState | None = None,
    **detail: object,
) -> PlanState:
    """Ready what can run and move the plan to the state its steps imply (or ``forced``)."""
    new_state = await _settle_state(s, plan, writeback, actor, forced, detail)
    await refresh(s, plan, writeback, actor)
    return new_state


async def _settle_state(
    s: AsyncSession,
    plan: Plan,
    writeback: WritebackSettings,
    actor: str,
    forced: PlanState | None,
    detail: dict[str, object],
) -> PlanState:
    now = utcnow()
    current = PlanState(plan.state)
    ready, new_state = advance(await step_views(s, plan.id), current)
    if forced is not None:
        ready, new_state = {}, forced
    for key in ready:
        wait_until: datetime | None = await s.scalar(
            select(Step.wait_until).where(
                Step.plan_id == plan.id, Step.key == key, Step.kind == "pause"
            )
        )
        due = max(now, aware(wait_until)) if wait_until else now
        await s.execute(
            update(Step)
            .where(Step.plan_id == plan.id, Step.key == key, Step.state == StepState.PENDING)
            .values(state=StepState.READY, due_at=due)
        )
        write_step_state(s, writeback, plan.order_id, key, StepState.READY, plan.correlation_id)
    reason = await hold_reason(s, plan.id)
    if new_state == current and (new_state != PlanState.ON_HOLD or reason == plan.hold_reason):
        return new_state
    check_plan_transition(current, new_state)
    plan.state = new_state
    plan.hold_reason = reason if new_state is PlanState.ON_HOLD else None
    refused = plan.error if plan.error and plan.error.startswith(REFUSED) else None
    plan.error = reason if new_state in (PlanState.ON_HOLD, PlanState.FAILED) else refused
    if new_state in FINAL_PLAN:
        plan.completed_at = now
    write_plan_state(s, writeback, plan.order_id, new_state, plan.correlation_id, plan.error)
    audit.record(
        s,
        actor,
        f"plan.{new_state}",
        plan_id=plan.id,
        order_id=plan.order_id,
        correlation_id=plan.correlation_id,
        error=plan.error,
        **detail,
    )
    return new_state


def aware(when: datetime) -> datetime:
    """SQLite returns naive datetimes; they are UTC."""
    return when if when.tzinfo else when.replace(tzinfo=UTC)
