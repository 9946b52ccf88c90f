"""Store plan and step jeopardy; on a plan change, write it to the Order and raise an alert.

``refresh`` runs in the caller's transaction (``settle`` calls it after every step
change); ``sweep`` re-checks open plans with a due date, so a stuck plan turns late
without any step finishing.  A change from a known value is audited as the alert
``plan.jeopardy_changed``; the first value is only written back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.clock import aware, utcnow
from app.config import WritebackSettings
from app.db.database import Database
from app.db.models import Plan, PlanState, Step
from app.plans.jeopardy import Margin, StepTiming, plan_jeopardy, step_jeopardy
from app.plans.state import FINAL_PLAN
from app.salesforce import outbox

OPEN_PLANS = [state for state in PlanState if state not in FINAL_PLAN]
ALERT = "plan.jeopardy_changed"


class StepRow(Protocol):
    """What judging needs of a step (a query row, or settle's own)."""

    @property
    def id(self) -> int: ...
    @property
    def key(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def depends_on(self) -> Sequence[str]: ...
    @property
    def expected_duration_s(self) -> float | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def jeopardy(self) -> str | None: ...


def judged_at(plan: Plan) -> datetime:
    """A finished plan is judged at its completion time, so it keeps its final verdict."""
    done_at = aware(plan.completed_at)
    return done_at if plan.state in FINAL_PLAN and done_at else utcnow()


def judge_steps(
    rows: Iterable[StepRow], now: datetime
) -> tuple[list[StepTiming], dict[int, str | None]]:
    """The steps' timings, and the verdicts that changed, by step id."""
    timings: list[StepTiming] = []
    changed: dict[int, str | None] = {}
    for r in rows:
        t = StepTiming(
            r.key,
            r.state,
            tuple(r.depends_on or ()),
            r.expected_duration_s,
            aware(r.started_at),
            aware(r.finished_at),
        )
        timings.append(t)
        verdict = step_jeopardy(t, now)
        if verdict != r.jeopardy:
            changed[r.id] = verdict
    return timings, changed


def set_plan_jeopardy(
    s: AsyncSession,
    plan: Plan,
    writeback: WritebackSettings,
    actor: str,
    timings: list[StepTiming],
    now: datetime,
) -> str | None:
    """Store the plan's verdict; a change goes to the Order, and from a known value is
    the alert.  A cancelled plan keeps the value it had.  Returns the plan's value."""
    margin = Margin(writeback.jeopardy_margin_share, writeback.jeopardy_margin_s)
    old = plan.jeopardy
    new = plan_jeopardy(aware(plan.due_at), now, timings, margin)
    if new == old or plan.state == PlanState.CANCELLED:
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


async def refresh(
    s: AsyncSession, plan: Plan, writeback: WritebackSettings, actor: str
) -> str | None:
    """Recompute and store the jeopardy of ``plan`` and its steps; the plan's new value."""
    now = judged_at(plan)
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
    timings, changed = judge_steps(rows, now)
    for step_id, verdict in changed.items():
        await s.execute(update(Step).where(Step.id == step_id).values(jeopardy=verdict))
    return set_plan_jeopardy(s, plan, writeback, actor, timings, now)


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
