"""Settle a plan after its steps changed, inside the caller's transaction.

Used by the worker (step outcomes, signals, timeouts) and by operator actions:
ready the steps whose dependencies are done, derive the plan state and hold reason,
and, when they changed, write them to the Order (status map) and the audit log;
then refresh the plan's and steps' jeopardy (as ``jeopardy_watch.refresh`` does).
``settle_many`` does this for all plans a worker batch touched with one read of
their steps and set-based updates (the plans' own columns too: Core, no ORM flush);
``settle`` is ``settle_many`` for one plan.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from revflow import audit
from revflow.alerts.service import defer_plan_recovered, raise_deferred
from revflow.clock import aware, utcnow
from revflow.config import WritebackSettings
from revflow.db.models import Plan, PlanState, StepState
from revflow.orchestration import claims, repository
from revflow.orchestration.jeopardy_watch import judge_steps, judged_at, set_plan_jeopardy
from revflow.orchestration.status import write_plan_state, write_step_state
from revflow.plans.ponr import REFUSED
from revflow.plans.state import FINAL_PLAN, StepView, advance, check_plan_transition


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
class Chain:
    """Steps to lease to a worker instead of readying them (``claims.lease_pending``):
    up to ``limit`` of those that ``plans`` make due now, filled in ``leased``."""

    plans: Collection[int]
    limit: int
    owner: str
    lease: timedelta
    leased: list[Any] = field(default_factory=list)


@dataclass
class _Changes:
    """Step updates collected while settling several plans, written set-based."""

    ready_now: list[int] = field(default_factory=list)
    ready_of: dict[int, list[int]] = field(default_factory=dict)  # ready_now by plan
    ready_at: list[dict[str, Any]] = field(default_factory=list)  # paused steps: own due time
    jeopardy: dict[str | None, list[int]] = field(default_factory=dict)
    plans: dict[int, Plan] = field(default_factory=dict)  # plans whose state or jeopardy moved


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
    chain: Chain | None = None,
    rows: Sequence[Any] | None = None,
    changed: Mapping[int, Mapping[str, object]] | None = None,
) -> dict[int, PlanState]:
    """``settle`` for several locked plans at once: one read of their steps, one update
    for the steps that became ready, one per jeopardy value that changed.  With
    ``chain``, some of the steps that became ready are leased instead (one update).

    ``rows``: the plans' steps (``repository.settle_rows``' columns, plans not
    settled allowed) read already in this transaction before ``changed`` (new column
    values by step id) was written to some: the caller saves a round trip.

    Returns each plan's new state.  Write-backs and audit entries are added to the
    session in plan order, as ``settle`` called plan by plan would add them.
    """
    if not plans:
        return {}
    if rows is None:
        rows = await repository.settle_rows(s, [p.id for p in plans])
    steps: dict[int, list[_StepRow]] = {p.id: [] for p in plans}
    for r in rows:
        if r.plan_id not in steps:
            continue
        row = _StepRow(
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
        if changed and r.id in changed:
            _apply(row, changed[r.id])
        steps[r.plan_id].append(row)
    changes = _Changes()
    states: dict[int, PlanState] = {}
    for plan in plans:
        detail = dict((details or {}).get(plan.id) or {})
        plan_steps = steps[plan.id]
        states[plan.id] = _settle_state(
            s, plan, plan_steps, writeback, actor, forced, detail, changes
        )
        _refresh_jeopardy(s, plan, plan_steps, writeback, actor, changes)
    now = utcnow()
    leased = _chained(chain, plans, states, changes)
    if leased:
        assert chain is not None
        ready = set(changes.ready_now) - set(leased)
        changes.ready_now = [i for i in changes.ready_now if i in ready]
        chain.leased = await claims.lease_pending(s, leased, chain.owner, chain.lease, now)
    await repository.write_plans(s, list(changes.plans.values()), now)
    await repository.ready_steps(s, changes.ready_now, changes.ready_at, now)
    for verdict, ids in changes.jeopardy.items():
        await repository.set_jeopardy(s, ids, verdict)
    await raise_deferred(s)  # jeopardy alerts, in this transaction
    return states


_PATCHED = ("state", "error", "wait_until", "finished_at")  # what an outcome may change


def _apply(row: _StepRow, values: Mapping[str, object]) -> None:
    """A step's row as the caller's UPDATE of ``values`` left it."""
    for name in _PATCHED:
        if name in values:
            setattr(row, name, values[name])


def _chained(
    chain: Chain | None, plans: Sequence[Plan], states: Mapping[int, PlanState], ch: _Changes
) -> list[int]:
    """The steps made ready now to lease to ``chain``'s worker, plan by plan: only of
    plans simply in progress (no change or hold under way, which a claim would skip or
    which ``continue_change`` may still move on)."""
    if chain is None or chain.limit <= 0:
        return []
    ids: list[int] = []
    for plan in plans:
        if (
            plan.id in chain.plans
            and states[plan.id] is PlanState.IN_PROGRESS
            and not plan.amendment
            and plan.hold_reason is None
        ):
            ids.extend(ch.ready_of.get(plan.id, ()))
    return ids[: chain.limit]


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
            changes.ready_of.setdefault(plan.id, []).append(r.id)
        write_step_state(s, writeback, plan.order_id, r.key, StepState.READY, plan.correlation_id)
    failed = next((r for r in steps if r.state == StepState.FAILED), None)
    reason = f"{failed.key}: {failed.error or 'failed'}" if failed else None
    if new_state == current and (new_state != PlanState.ON_HOLD or reason == plan.hold_reason):
        return new_state
    check_plan_transition(current, new_state)
    if current is PlanState.ON_HOLD and new_state is not PlanState.ON_HOLD:
        defer_plan_recovered(s, plan.id)  # its fallout alerts resolve
    refused = plan.error if plan.error and plan.error.startswith(REFUSED) else None
    _settled(
        plan,
        state=new_state,
        hold_reason=reason if new_state is PlanState.ON_HOLD else None,
        error=reason if new_state in (PlanState.ON_HOLD, PlanState.FAILED) else refused,
        completed_at=now if new_state in FINAL_PLAN else plan.completed_at,
    )
    changes.plans[plan.id] = plan
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


def _settled(plan: Plan, **values: object) -> None:
    """Set a plan's settled columns as if stored: ``repository.write_plans`` stores them
    for the batch in one Core statement, and the ORM, seeing no change, flushes none."""
    for name, value in values.items():
        set_committed_value(plan, name, value)


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
    plan_was = plan.jeopardy
    timings, changed = judge_steps(steps, now)
    for r in steps:
        if r.id in changed:
            r.jeopardy = changed[r.id]
            changes.jeopardy.setdefault(changed[r.id], []).append(r.id)
    if set_plan_jeopardy(s, plan, writeback, actor, timings, now) != plan_was:
        changes.plans[plan.id] = plan
