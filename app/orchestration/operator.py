"""Operator actions on plans and the fallout queue.

Each action runs in the caller's transaction (the API route or CLI command opens
it; a refused action rolls it back): it locks the plan, checks the change against
the state machine (``state``), applies it with guards on the steps' current states
(a worker that moved a step meanwhile makes the action fail with a conflict, not
race it), settles the plan (ready steps, plan state, Order write-back) and records
the actor and reason in the audit log.  Refusals are ``errors.OperatorError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import aware, utcnow
from revflow.config import WritebackSettings
from revflow.db.models import Plan, PlanState, StepState
from revflow.orchestration import repository
from revflow.orchestration.actors import check_actor
from revflow.orchestration.errors import Conflict, NotFound
from revflow.orchestration.progress import settle
from revflow.orchestration.status import write_step_state
from revflow.plans import state as sm


@dataclass(frozen=True)
class ActionResult:
    plan_id: int
    action: str
    plan_state: str
    changed: dict[str, str]  # step key -> new state


Compute = Callable[[list[sm.StepView], PlanState], tuple[dict[str, StepState], PlanState | None]]


async def _act(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan_id: int,
    action: str,
    actor: str,
    reason: str,
    compute: Compute,
    step_key: str | None = None,
    values: dict[str, Any] | None = None,
) -> ActionResult:
    plan = await repository.lock_plan(s, plan_id, repository.on_sqlite(s))
    if plan is None:
        raise NotFound(f"no plan {plan_id}")
    views = await repository.step_views(s, plan_id)
    if step_key is not None and step_key not in {v.key for v in views}:
        raise NotFound(f"plan {plan_id} has no step {step_key!r}")
    try:
        changes, forced = compute(views, PlanState(plan.state))
        sm.apply(views, changes)
    except sm.InvalidTransition as exc:
        raise Conflict(str(exc)) from None
    before = {v.key: v.state for v in views}
    for key, new in changes.items():
        extra = values if key == step_key else None
        await _set_step(s, plan, key, before[key], new, reason, extra)
        write_step_state(s, writeback, plan.order_id, key, new, plan.correlation_id)
    audit.record(
        s,
        actor,
        f"operator.{action}",
        plan_id=plan.id,
        order_id=plan.order_id,
        correlation_id=plan.correlation_id,
        reason=reason,
        step=step_key,
        changed={k: str(v) for k, v in changes.items()},
        **({k: v for k, v in (values or {}).items() if k in ("input", "output")}),
    )
    new_state = await settle(s, plan, writeback, actor, forced=forced, reason=reason)
    return ActionResult(plan_id, action, str(new_state), {k: str(v) for k, v in changes.items()})


async def _set_step(
    s: AsyncSession,
    plan: Plan,
    key: str,
    old: StepState,
    new: StepState,
    reason: str,
    extra: dict[str, Any] | None,
) -> None:
    now = utcnow()
    values: dict[str, Any] = {"state": new, "lease_owner": None, "lease_expires_at": None}
    if new in (StepState.READY, StepState.PENDING):
        values.update(
            due_at=now if new is StepState.READY else None,
            error=None,
            attempts=0,
            finished_at=None,
            note=None,
        )
    else:
        values.update(finished_at=now, note=reason or None)
    values.update(extra or {})
    if not await repository.update_step_in_state(s, plan.id, key, old, values):
        raise Conflict(f"step {key!r} changed while the action ran; look again and retry")


def _one(
    fn: Callable[[list[sm.StepView], str, PlanState], dict[str, StepState]], key: str
) -> Compute:
    return lambda views, current: (fn(views, key, current), None)


async def retry(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan_id: int,
    key: str,
    *,
    actor: str,
    reason: str,
    input: dict[str, Any] | None = None,
) -> ActionResult:
    """Run a fatally failed step again, optionally with edited input (replaces Step.input)."""
    check_actor(actor, reason)
    values = {"input": input} if input is not None else None
    return await _act(
        s, writeback, plan_id, "retry", actor, reason, _one(sm.retry_step, key), key, values
    )


async def skip(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan_id: int,
    key: str,
    *,
    actor: str,
    reason: str,
) -> ActionResult:
    """Skip a step; its dependants run as if it had completed."""
    check_actor(actor, reason)
    return await _act(s, writeback, plan_id, "skip", actor, reason, _one(sm.skip_step, key), key)


async def complete(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan_id: int,
    key: str,
    *,
    actor: str,
    reason: str = "",
    output: dict[str, Any] | None = None,
) -> ActionResult:
    """Complete a waiting manual task (or wait), with optional output."""
    check_actor(actor, reason, reason_required=False)
    values = {"output": {**(output or {}), "completed_by": actor}}
    return await _act(
        s, writeback, plan_id, "complete", actor, reason, _one(sm.complete_step, key), key, values
    )


async def redrive(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan_id: int,
    key: str,
    *,
    actor: str,
    reason: str,
) -> ActionResult:
    """Re-run the plan from a failed step; completed steps are kept."""
    check_actor(actor, reason)
    return await _act(s, writeback, plan_id, "redrive", actor, reason, _one(sm.redrive, key), key)


async def cancel(
    s: AsyncSession, writeback: WritebackSettings, plan_id: int, *, actor: str, reason: str
) -> ActionResult:
    """Cancel the plan's open steps; the plan ends cancelled (or failed, with fallout)."""
    check_actor(actor, reason)

    def compute(
        views: list[sm.StepView], current: PlanState
    ) -> tuple[dict[str, StepState], PlanState | None]:
        return sm.cancel_plan(views, current)

    return await _act(s, writeback, plan_id, "cancel", actor, reason, compute)


# -- the fallout queue ---------------------------------------------------------------


@dataclass(frozen=True)
class FalloutItem:
    plan_id: int
    order_id: str
    plan_state: str
    step: str
    kind: str
    error: str | None
    attempts: int
    since: datetime | None


async def list_fallout(
    s: AsyncSession, *, order_id: str | None = None, limit: int = 100
) -> list[FalloutItem]:
    """Fatally failed steps of open plans, oldest first."""
    return [
        FalloutItem(
            plan_id=r.plan_id,
            order_id=r.order_id,
            plan_state=r.state,
            step=r.key,
            kind=r.kind,
            error=r.error,
            attempts=r.attempts,
            since=aware(r.finished_at) if r.finished_at else None,
        )
        for r in await repository.fallout(s, order_id, limit)
    ]
