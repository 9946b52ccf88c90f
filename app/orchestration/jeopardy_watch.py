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

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.alerts.hooks import jeopardy as jeopardy_event
from revflow.alerts.service import defer_alert, raise_deferred
from revflow.clock import aware, utcnow
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.models import Plan, PlanState
from revflow.orchestration import repository
from revflow.plans.jeopardy import Margin, StepTiming, plan_jeopardy, step_jeopardy
from revflow.plans.state import FINAL_PLAN
from revflow.salesforce import outbox
from revflow.salesforce.targets import fields_for

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
    target = fields_for(writeback, plan.order_id)
    if target.jeopardy_field:
        fields = {target.jeopardy_field: new}
        outbox.enqueue(s, target.sobject, plan.order_id, fields, plan.correlation_id)
    if old is not None:
        defer_alert(s, jeopardy_event(plan.id, plan.order_id, plan.definition, new))
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
    timings, changed = judge_steps(await repository.settle_rows(s, [plan.id]), now)
    for step_id, verdict in changed.items():
        await repository.set_jeopardy(s, [step_id], verdict)
    verdict = set_plan_jeopardy(s, plan, writeback, actor, timings, now)
    await raise_deferred(s)  # the alert of a change, in this transaction
    return verdict


async def sweep_batch(
    s: AsyncSession, writeback: WritebackSettings, after_id: int, batch: int
) -> tuple[int, int | None]:
    """Refresh up to ``batch`` open plans with a due date, by id after ``after_id``.

    Returns how many changed jeopardy and the last plan id (None when none is left).
    """
    plans = await repository.open_plans_due(s, after_id, batch, repository.on_sqlite(s))
    changed = 0
    for plan in plans:
        before = plan.jeopardy
        if await refresh(s, plan, writeback, "worker") != before:
            changed += 1
    last = plans[-1].id if len(plans) == batch else None
    return changed, last


async def sweep(db: Database, writeback: WritebackSettings, batch: int = 200) -> int:
    """Refresh every open plan with a due date, ``batch`` plans per transaction (the
    jeopardy loop's work: it owns the transactions).  Returns how many changed."""
    changed = 0
    after: int | None = 0
    while after is not None:
        async with db.write() as s:
            done, after = await sweep_batch(s, writeback, after, batch)
        changed += done
    return changed
