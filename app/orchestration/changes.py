"""In-flight changes of a plan: cancellation here, amendments in ``amendments``.

``request_cancellation`` refuses once a PONR step has started (the refusal goes to
the Order's error field and the plan keeps running); else it freezes the plan.  A
plan has at most one change in progress: a change for a freezing or frozen plan is
queued (its inbox event is ``deferred``) and released when the change ends.
``continue_change`` drives a frozen plan on, inside the caller's transaction: open
steps are cancelled, running ones finish, completed steps are compensated in
reverse dependency order (through the worker: compensating -> compensated), and
the plan ends ``cancelled`` with the Order status from the status map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.models import EventStatus, Plan, PlanState, Step, StepState
from revflow.ingest.events import IncomingEvent
from revflow.orchestration import repository
from revflow.orchestration.progress import settle
from revflow.orchestration.status import plan_state_fields, write_plan_state, write_step_state
from revflow.plans.decompose import PlanDraft, StepDraft
from revflow.plans.diff import draft_from_json, draft_to_json, scenario_steps
from revflow.plans.ponr import next_compensations, ponr_passed, refusal_text
from revflow.plans.state import CANCELLABLE, check_plan_transition
from revflow.salesforce import outbox

CANCELLATION = "cancellation requested"  # Plan.hold_reason while a cancellation runs
AMENDMENT = "amendment requested"  # Plan.hold_reason while an amendment runs (amendments.py)
COMPENSATION_NOTE = "compensating: "  # Step.note of a step being (or that was) compensated
FROZEN = (PlanState.FREEZING, PlanState.FROZEN)
CANCELLED_STATUSES = frozenset({"Cancelled", "Canceled"})
NO_PLAN_CANCELLED = "order.cancelled_without_plan"  # audit action


def is_cancellation(event: IncomingEvent) -> bool:
    """An Order whose Status became Cancelled in this change."""
    return (
        event.entity == "Order"
        and event.change_type == "UPDATE"
        and "Status" in event.changed_fields
        and event.payload.get("Status") in CANCELLED_STATUSES
    )


async def request_cancellation(
    s: AsyncSession,
    writeback: WritebackSettings,
    order_id: str,
    actor: str,
    scenario: Callable[[dict[str, Any]], PlanDraft | None] | None = None,
) -> tuple[str, str]:
    """Handle an Order cancellation in the caller's transaction; returns (inbox event
    status, note).

    ``scenario`` decomposes the order (as the plan last read it) for the plan
    definition's ``cancellation`` scenario, if it has one: those steps run once the
    compensations are done, before the plan is cancelled.
    """
    plan_id = await repository.plan_id_of_order(s, order_id)
    if plan_id is None:
        # cancelled before a plan was made (e.g. in the batch that activated it); an
        # event and a recovery may both report it: noted once
        if await repository.order_audited(s, order_id, NO_PLAN_CANCELLED):
            return EventStatus.PROCESSED, "cancellation: the order has no plan (noted before)"
        fields = plan_state_fields(writeback, PlanState.CANCELLED)
        if fields:
            outbox.enqueue(s, "Order", order_id, fields, None)
        audit.record(s, actor, NO_PLAN_CANCELLED, order_id=order_id)
        return EventStatus.PROCESSED, "cancellation: the order has no plan"
    plan = await repository.lock_plan(s, plan_id, repository.on_sqlite(s))
    assert plan is not None
    state = PlanState(plan.state)
    if state in (PlanState.CANCELLED, PlanState.FAILED, PlanState.CANCELLING):
        return EventStatus.PROCESSED, f"cancellation: plan {plan.id} is already {state}"
    if state in FROZEN:
        return EventStatus.DEFERRED, f"cancellation queued behind the change on plan {plan.id}"
    passed = ponr_passed(await repository.change_views(s, plan.id))
    if state is PlanState.COMPLETED or passed is not None:
        text = refusal_text("cancellation", passed, state)
        refuse(s, writeback, plan, actor, text)
        return EventStatus.PROCESSED, text
    check_plan_transition(state, PlanState.FREEZING)
    plan.state = PlanState.FREEZING
    plan.hold_reason = CANCELLATION
    record = await repository.snapshot_record(s, plan.snapshot_id)
    draft = scenario(record or {"Id": order_id}) if scenario else None
    plan.amendment = {
        "change": "cancellation",
        "scenario_steps": draft_to_json(scenario_steps(draft.steps, "cancel") if draft else ()),
    }
    audit.record(
        s,
        actor,
        "plan.freezing",
        plan_id=plan.id,
        order_id=order_id,
        correlation_id=plan.correlation_id,
        change="cancellation",
    )
    await continue_change(s, plan, writeback)
    return EventStatus.PROCESSED, f"cancellation accepted: plan {plan.id} {plan.state}"


def refuse(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan: Plan,
    actor: str,
    text: str,
    change: str = "cancellation",
) -> None:
    """Record a refused change on the plan, the Order's error field and the audit log."""
    if PlanState(plan.state) not in (PlanState.COMPLETED, PlanState.CANCELLED, PlanState.FAILED):
        plan.error = text  # kept through completion (see progress.settle)
    if writeback.error_field:
        outbox.enqueue(
            s, "Order", plan.order_id, {writeback.error_field: text}, plan.correlation_id
        )
    audit.record(
        s,
        actor,
        "plan.change_refused",
        plan_id=plan.id,
        order_id=plan.order_id,
        correlation_id=plan.correlation_id,
        change=change,
        reason=text,
    )


async def continue_change(
    s: AsyncSession, plan: Plan, writeback: WritebackSettings, actor: str = "revflow"
) -> bool:
    """Move a changing plan on as far as it can go now; True if work became due."""
    if plan.hold_reason == AMENDMENT:
        from revflow.orchestration.amendments import continue_amendment  # imports this module

        return await continue_amendment(s, plan, writeback, actor)
    change = (plan.amendment or {}).get("change")
    if change == "cancellation" and plan.state == PlanState.CANCELLED:
        plan.amendment = None  # its cancellation steps are done (progress.settle)
        await release_queued(s, plan.order_id)
        return False
    if PlanState(plan.state) not in FROZEN or plan.hold_reason != CANCELLATION:
        return False
    views = await repository.change_views(s, plan.id)
    for v in views:
        open_fallout = v.state is StepState.FAILED and not _compensation(v.note)
        if v.state in CANCELLABLE or open_fallout:
            await set_step(
                s, writeback, plan, v.key, v.state, StepState.CANCELLED, "order cancelled"
            )
    if any(v.state is StepState.RUNNING for v in views):
        return False  # running steps finish first
    if plan.state == PlanState.FREEZING:
        plan.state = PlanState.FROZEN
        audit_plan(s, actor, plan, "plan.frozen")
    views = await repository.change_views(s, plan.id)
    if any(v.state is StepState.COMPENSATING for v in views):
        return False
    if any(v.state is StepState.FAILED for v in views):
        return False  # a compensation failed: an operator decides (see the Order's error)
    todo = next_compensations(views)
    for key in todo:
        await set_step(
            s, writeback, plan, key, StepState.COMPLETED, StepState.COMPENSATING, "cancellation"
        )
    if todo:
        audit_plan(s, actor, plan, "plan.compensating", steps=todo)
        return True
    extra = draft_from_json((plan.amendment or {}).get("scenario_steps") or ())
    if extra:  # the cancellation scenario's steps run, then settle cancels the plan
        await add_steps(s, plan.id, extra, "cancellation scenario")
        plan.amendment = {"change": "cancellation"}
        plan.state = PlanState.CANCELLING
        plan.hold_reason = None
        audit_plan(s, actor, plan, "plan.cancelling", steps=[e.key for e in extra])
        await settle(s, plan, writeback, actor, change="cancellation")
        return True
    plan.state = PlanState.CANCELLED
    plan.amendment = None
    plan.hold_reason = None
    plan.error = None
    plan.completed_at = utcnow()
    write_plan_state(s, writeback, plan.order_id, PlanState.CANCELLED, plan.correlation_id)
    audit_plan(s, actor, plan, "plan.cancelled", reason="order cancelled in Salesforce")
    await release_queued(s, plan.order_id)
    return False


async def add_steps(s: AsyncSession, plan_id: int, steps: Sequence[StepDraft], note: str) -> None:
    """Insert a change scenario's steps into a plan, pending (``settle`` readies them)."""
    last = await repository.last_position(s, plan_id)
    for offset, d in enumerate(steps, start=1):
        s.add(
            Step(
                plan_id=plan_id,
                key=d.key,
                position=last + offset,
                kind=d.kind,
                connector=d.connector,
                action=d.action,
                depends_on=list(d.depends_on),
                state=StepState.PENDING,
                idempotency_key=d.idempotency_key,
                input=dict(d.input),
                mapping_hash=d.mapping_hash,
                scope_key=d.scope_key,
                ponr=d.ponr,
                compensation_key=d.compensation_key,
                expected_duration_s=d.expected_duration_s,
                retry_policy=d.retry_policy,
                wait_key=d.wait_key,
                wait_until=d.pause_until,
                assignee=d.assignee,
                note=note,
            )
        )
    await s.flush()


def _compensation(note: str | None) -> bool:
    return bool(note and note.startswith(COMPENSATION_NOTE))


async def set_step(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan: Plan,
    key: str,
    old: StepState,
    new: StepState,
    why: str,
) -> None:
    now = utcnow()
    values: dict[str, object] = {"state": new, "lease_owner": None, "lease_expires_at": None}
    if new is StepState.COMPENSATING:
        values.update(due_at=now, attempts=0, error=None, note=f"{COMPENSATION_NOTE}{why}")
    else:
        values.update(finished_at=now, note=why)
    await repository.update_step_in_state(s, plan.id, key, old, values)
    write_step_state(s, writeback, plan.order_id, key, new, plan.correlation_id)


def audit_plan(s: AsyncSession, actor: str, plan: Plan, action: str, **detail: object) -> None:
    """An audit entry about ``plan``, with its order and correlation id."""
    audit.record(
        s,
        actor,
        action,
        plan_id=plan.id,
        order_id=plan.order_id,
        correlation_id=plan.correlation_id,
        **detail,
    )


async def release_queued(s: AsyncSession, order_id: str) -> int:
    """Put the changes queued for ``order_id`` back into the inbox; how many."""
    return await repository.release_deferred(s, order_id, "released: the change before it ended")


async def continue_locked(
    s: AsyncSession, plan_id: int, writeback: WritebackSettings, is_sqlite: bool
) -> bool:
    """``continue_change`` for a plan id (locks the plan)."""
    plan = await repository.lock_plan(s, plan_id, is_sqlite)
    return plan is not None and await continue_change(s, plan, writeback)
