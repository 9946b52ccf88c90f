"""Settle a plan after its steps changed, inside the caller's transaction.

Used by the worker (step outcomes, signals, timeouts) and by operator actions:
ready the steps whose dependencies are done, derive the plan state and hold reason,
and, when they changed, write them to the Order (status map) and the audit log;
then refresh the plan's and steps' jeopardy (as ``jeopardy_watch.refresh`` does).
``settle_many`` does this for all plans a worker batch touched with one read of
their steps and set-based updates; ``settle`` is ``settle_many`` for one plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.clock import aware, utcnow
from app.config import WritebackSettings
from app.db.models import Plan, PlanState, Step, StepState
from app.orchestration.jeopardy_watch import judge_steps, judged_at, set_plan_jeopardy
from app.orchestration.status import write_plan_state, write_step_state
from app.plans.ponr import REFUSED
from app.plans.state import FINAL_PLAN, StepView, advance, check_plan_transition

STEPS = cast(Table, Step.__table__)  # Core table: executemany updates by bound id


async def lock_plan(s: AsyncSession, plan_id: int, is_sqlite: bool) -> Plan | None:
    """The plan row, locked on PostgreSQL so sibling changes are serialised."""
    q = select(Plan).where(Plan.id == plan_id)
    if not is_sqlite:
        q = q.with_for_update()
    return (await s.scalars(q)).one_or_none()


async def lock_plans(s: AsyncSession, plan_ids: Iterable[int], is_sqlite: bool) -> dict[int, Plan]:
    """Several plan rows, locked in id order on PostgreSQL (no deadlock between batches)."""
    ids = sorted(set(plan_ids))
    if not ids:
        return {}
    q = select(Plan).where(Plan.id.in_(ids)).order_by(Plan.id)
    if not is_sqlite:
        q = q.with_for_update()
    return {p.id: p for p in (await s.scalars(q)).all()}


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


@dataclass
class _StepRow:
    """What settling needs of a step, read once for all plans of a batch."""

    id: int
    key: str
    state: str
    depends_on: tuple[str, ...]
    kind: str
    error: str | None
    wait_until: datetime | None
    expected_duration_s: float | None
    started_at: datetime | None
    finished_at: datetime | None
    jeopardy: str | None


@dataclass
class _Changes:
    """Step updates collected while settling several plans, written set-based."""

    ready_now: list[int] = field(default_factory=list)
    ready_at: list[dict[str, Any]] = field(default_factory=list)  # paused steps: own due time
    jeopardy: dict[str | None, list[int]] = field(default_factory=dict)


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
    details = {plan.id: detail}
    states = await settle_many(s, [plan], writeback, actor, forced=forced, details=details)
    return states[plan.id]


async def settle_many(
    s: AsyncSession,
    plans: Sequence[Plan],
    writeback: WritebackSettings,
    actor: str,
    *,
    forced: PlanState | None = None,
    details: Mapping[int, Mapping[str, object]] | None = None,
) -> dict[int, PlanState]:
    """``settle`` for several locked plans at once: one read of their steps, one update
    for the steps that became ready, one per jeopardy value that changed.

    Returns each plan's new state.  Write-backs and audit entries are added to the
    session in plan order, as ``settle`` called plan by plan would add them.
    """
    if not plans:
        return {}
    rows = (
        await s.execute(
            select(
                Step.id,
                Step.plan_id,
                Step.key,
                Step.state,
                Step.depends_on,
                Step.kind,
                Step.error,
                Step.wait_until,
                Step.expected_duration_s,
                Step.started_at,
                Step.finished_at,
                Step.jeopardy,
            )
            .where(Step.plan_id.in_([p.id for p in plans]))
            .order_by(Step.plan_id, Step.position)
        )
    ).all()
    steps: dict[int, list[_StepRow]] = {p.id: [] for p in plans}
    for r in rows:
        steps[r.plan_id].append(
            _StepRow(
                r.id,
                r.key,
                r.state,
                tuple(r.depends_on or ()),
                r.kind,
                r.error,
                r.wait_until,
                r.expected_duration_s,
                r.started_at,
                r.finished_at,
                r.jeopardy,
            )
        )
    changes = _Changes()
    states: dict[int, PlanState] = {}
    for plan in plans:
        detail = dict((details or {}).get(plan.id) or {})
        plan_steps = steps[plan.id]
        states[plan.id] = _settle_state(
            s, plan, plan_steps, writeback, actor, forced, detail, changes
        )
        _refresh_jeopardy(s, plan, plan_steps, writeback, actor, changes)
    if changes.ready_now:
        await s.execute(
            update(Step)
            .where(Step.id.in_(changes.ready_now), Step.state == StepState.PENDING)
            .values(state=StepState.READY, due_at=utcnow())
        )
    if changes.ready_at:
        c = STEPS.c
        await s.execute(
            update(STEPS)
            .where(c.id == bindparam("b_id"), c.state == StepState.PENDING)
            .values(state=StepState.READY, due_at=bindparam("b_due", type_=c.due_at.type)),
            changes.ready_at,
        )
    for verdict, ids in changes.jeopardy.items():
        await s.execute(update(Step).where(Step.id.in_(ids)).values(jeopardy=verdict))
    return states


def _settle_state(
    s: AsyncSession,
    plan: Plan,
    steps: list[_StepRow],
    writeback: WritebackSettings,
    actor: str,
    forced: PlanState | None,
    detail: dict[str, object],
    changes: _Changes,
) -> PlanState:
    now = utcnow()
    current = PlanState(plan.state)
    views = [StepView(r.key, StepState(r.state), r.depends_on, r.kind) for r in steps]
    ready, new_state = advance(views, current)
    if forced is not None:
        ready, new_state = {}, forced
    for r in steps:
        if r.key not in ready or r.state != StepState.PENDING:
            continue
        r.state = StepState.READY
        if r.kind == "pause" and r.wait_until:
            changes.ready_at.append({"b_id": r.id, "b_due": max(now, aware(r.wait_until))})
        else:
            changes.ready_now.append(r.id)
        write_step_state(s, writeback, plan.order_id, r.key, StepState.READY, plan.correlation_id)
    failed = next((r for r in steps if r.state == StepState.FAILED), None)
    reason = f"{failed.key}: {failed.error or 'failed'}" if failed else None
    if new_state == current and (new_state != PlanState.ON_HOLD or reason == plan.hold_reason):
        return new_state
    check_plan_transition(current, new_state)
    plan.state = new_state
    plan.hold_reason = reason if new_state is PlanState.ON_HOLD else None
    refused = plan.error if plan.error and plan.error.startswith(REFUSED) else None
    plan.error = reason if new_state in (PlanState.ON_HOLD, PlanState.FAILED) else refused
    if new_state in FINAL_PLAN:
        plan.completed_at = now
    write_plan_state(
        s, writeback, plan.order_id, new_state, plan.correlation_id, plan.error, plan_id=plan.id
    )
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


def _refresh_jeopardy(
    s: AsyncSession,
    plan: Plan,
    steps: list[_StepRow],
    writeback: WritebackSettings,
    actor: str,
    changes: _Changes,
) -> None:
    """``jeopardy_watch.refresh`` on steps already read (their updates are collected)."""
    now = judged_at(plan)
    timings, changed = judge_steps(steps, now)
    for r in steps:
        if r.id in changed:
            r.jeopardy = changed[r.id]
            changes.jeopardy.setdefault(changed[r.id], []).append(r.id)
    set_plan_jeopardy(s, plan, writeback, actor, timings, now)


def _maybe_aware(when: datetime | None) -> datetime | None:
    return aware(when)
