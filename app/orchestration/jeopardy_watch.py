"""Store plan and step jeopardy; on a plan change, write it to the Order and raise an alert.

``refresh`` runs in the caller's transaction (``settle`` calls it after every step
change); ``sweep`` re-checks open plans with a due date, so a stuck plan turns late
without any step finishing.  A change from a known value is audited as the alert
``plan.jeopardy_changed``; the first value is only written back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.clock import utcnow
from app.config import WritebackSettings
from app.db.database import Database
from app.db.models import Plan, PlanState, Step
from app.orchestration.jeopardy import Margin, StepTiming, plan_jeopardy, step_jeopardy
from app.orchestration.state import FINAL_PLAN
from app.salesforce import outbox

OPEN_PLANS = [state for state in PlanState if state not in FINAL_PLAN]
ALERT = "plan.jeopardy_changed"


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


async def refresh(
    s: AsyncSession, plan: Plan, writeback: WritebackSettings, actor: str
) -> str | None:
    """Recompute and store the jeopardy of ``plan`` and its steps; the plan's new value.

    A finished plan is judged at its completion time, so it keeps its final verdict;
    a cancelled plan keeps the one it had.
    """
    done_at = _aware(plan.completed_at)
    now = done_at if plan.state in FINAL_PLAN and done_at else utcnow()
    rows = (
        await s.execute(
            select(
                Step.id,
                Step.key,
                Step.state,
                Step.depends_on,
                Step.expected_duration_s,
                Step.started_at,
                Step.finished_at,
                Step.jeopardy,
            ).where(Step.plan_id == plan.id)
        )
    ).all()
    timings = []
    for r in rows:
        t = StepTiming(
            r.key,
            r.state,
            tuple(r.depends_on or ()),
            r.expected_duration_s,
            _aware(r.started_at),
            _aware(r.finished_at),
        )
        timings.append(t)
        verdict = step_jeopardy(t, now)
        if verdict != r.jeopardy:
            await s.execute(update(Step).where(Step.id == r.id).values(jeopardy=verdict))
    margin = Margin(writeback.jeopardy_margin_share, writeback.jeopardy_margin_s)
    old = plan.jeopardy
    new = plan_jeopardy(_aware(plan.due_at), now, timings, margin)
    if new == old or plan.state == PlanState.CANCELLED:  # a cancelled order keeps its value
        return old
    plan.jeopardy = new
    if writeback.jeopardy_field:
        fields = {writeback.jeopardy_field: new}
        outbox.enqueue(s, "Order", plan.order_id, fields, plan.correlation_id)
    if old is not None:
        audit.record(
            s,
            actor,
            ALERT,
            plan_id=plan.id,
            order_id=plan.order_id,
            correlation_id=plan.correlation_id,
            **{"from": old, "to": new, "due_at": plan.due_at.isoformat() if plan.due_at else None},
        )
    return new


async def sweep(db: Database, writeback: WritebackSettings, batch: int = 200) -> int:
    """Refresh every open plan with a due date, ``batch`` plans per transaction.

    Returns how many plans changed jeopardy.
    """
    changed, last_id = 0, 0
    while True:
        q = (
            select(Plan)
            .where(Plan.id > last_id, Plan.state.in_(OPEN_PLANS), Plan.due_at.is_not(None))
            .order_by(Plan.id)
            .limit(batch)
        )
        if not db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        async with db.write() as s:
            plans = list((await s.scalars(q)).all())
            for plan in plans:
                before = plan.jeopardy
                if await refresh(s, plan, writeback, "worker") != before:
                    changed += 1
        if len(plans) < batch:
            return changed
        last_id = plans[-1].id
