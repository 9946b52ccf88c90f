"""Compensating steps in the worker: claim them and commit their outcomes.

A step in ``compensating`` runs the action stored in its ``input["compensation"]``
(kind, connector, action, idempotency key, input) under the step's lease; the state
stays ``compensating`` while it runs.  Completed it becomes ``compensated``; fatal
(or a manual compensation, which a person must do) it becomes ``failed`` and the
cancellation stops there with the error on the Order; transient errors retry.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.models import Step, StepState
from revflow.orchestration.changes import continue_locked
from revflow.orchestration.claims import due_compensations, lease_due_steps, release_compensation
from revflow.orchestration.executor import ClaimedStep, Outcome, StepResult
from revflow.orchestration.status import write_step_state
from revflow.plans.retry import RetryPolicy
from revflow.salesforce import outbox
from revflow.salesforce.targets import fields_for


async def claim_compensations(
    s: AsyncSession, owner: str, lease: timedelta, limit: int
) -> list[ClaimedStep]:
    """Lease up to ``limit`` due compensations (state stays ``compensating``), in the
    caller's transaction."""
    if limit <= 0:
        return []
    now = utcnow()
    rows, plans = await lease_due_steps(
        s,
        due_compensations,
        owner=owner,
        lease=lease,
        now=now,
        limit=limit,
        columns=(Step.key, Step.attempts, Step.input, Step.retry_policy),
    )
    out = []
    for r in rows:
        comp = (r.input or {}).get("compensation") or {}
        plan = plans[r.plan_id]
        out.append(
            ClaimedStep(
                id=r.id,
                plan_id=r.plan_id,
                key=r.key,
                kind=str(comp.get("kind") or "callout"),
                connector=comp.get("connector"),
                action=comp.get("action"),
                attempt=r.attempts,
                idempotency_key=str(comp.get("idempotency_key") or f"comp:{r.id}"),
                input=comp.get("input") or {},
                order_id=plan.order_id,
                correlation_id=plan.correlation_id,
                definition=plan.definition,
                retry_policy=r.retry_policy,
                compensating=True,
            )
        )
    return out


async def apply_compensation(
    s: AsyncSession,
    step: ClaimedStep,
    result: StepResult,
    *,
    owner: str,
    policy: RetryPolicy,
    rng: random.Random,
    writeback: WritebackSettings,
    is_sqlite: bool,
) -> bool:
    """Commit a compensation's outcome; False if this worker lost the lease."""
    now = utcnow()
    values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None}
    outcome = result.outcome
    if outcome is Outcome.WAIT:  # a manual compensation: a person must undo it
        outcome, result.error = Outcome.FATAL, "manual compensation: undo it by hand"
    if outcome is Outcome.RETRY:
        delay = policy.next_delay(step.attempt, result.retry_after_s, rng)
        if delay is None or result.error_type in policy.non_retryable:
            outcome = Outcome.FATAL
        else:
            values.update(due_at=now + timedelta(seconds=delay), error=result.error)
    if outcome is Outcome.DEFER:
        values.update(due_at=result.due_at or now, attempts=Step.attempts - 1)
    if outcome is Outcome.COMPLETED:
        values.update(state=StepState.COMPENSATED, finished_at=now, error=None)
        output = {"compensation": result.output}
        values["output"] = output
    elif outcome is Outcome.FATAL:
        error = f"compensation failed: {result.error}"
        values.update(state=StepState.FAILED, finished_at=now, error=error)
    if not await release_compensation(s, step.id, owner, values):
        return False
    if "state" not in values:
        return True
    new = str(values["state"])
    write_step_state(s, writeback, step.order_id, step.key, new, step.correlation_id)
    if outcome is Outcome.COMPLETED:
        for w in result.writes:
            outbox.enqueue(s, w.sobject, w.record_id, w.fields, step.correlation_id)
    else:
        target = fields_for(writeback, step.order_id)
        if target.error_field:
            text = f"Cancellation stopped: {step.key}: {values['error']}"
            fields = {target.error_field: text}
            outbox.enqueue(s, target.sobject, step.order_id, fields, step.correlation_id)
    audit.record(
        s,
        "worker",
        "step.compensated" if outcome is Outcome.COMPLETED else "step.compensation_failed",
        plan_id=step.plan_id,
        order_id=step.order_id,
        correlation_id=step.correlation_id,
        step=step.key,
        error=values.get("error"),
    )
    await continue_locked(s, step.plan_id, writeback, is_sqlite)
    return True
