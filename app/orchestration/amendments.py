"""In-flight amendments: a changed order (quantity, lines added or removed) re-plans.

``request_amendment`` compares the plan with a draft decomposed from the order as it
is now (``diff.diff_plan``).  No difference: nothing to do.  A started PONR step the
change touches: refused, and the refusal goes to the Order's error field.  Otherwise
the plan freezes with the draft kept on it (``Plan.amendment``), and
``continue_amendment`` drives it on, inside the caller's transaction, each time
something moves (here, and from the worker when a step or compensation finishes):

1. steps that have not started take the new input in place (changed) or are
   discarded (removed); running ones finish first;
2. completed steps that are changed or removed and have a compensation are undone
   in reverse dependency order (through the worker: compensating -> compensated);
3. then the amended plan goes on (``Plan.version`` + 1): removed steps are
   discarded, changed ones run again with a new idempotency key and their payload's
   ``revision`` set (the receiver replaces its document) unless the plan's
   ``amendment`` scenario carries the change (its steps are added, ``key~vN``),
   added ones are inserted, and the plan settles back to in progress.

A change for a freezing or frozen plan is queued (``changes.release_queued``); as
the order is read again when it is released, queued amendments coalesce.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.models import EventStatus, OrderSnapshot, Plan, PlanState, Step, StepState
from revflow.orchestration import repository
from revflow.orchestration.changes import (
    AMENDMENT,
    COMPENSATION_NOTE,
    FROZEN,
    add_steps,
    audit_plan,
    refuse,
    release_queued,
    set_step,
)
from revflow.orchestration.progress import settle
from revflow.orchestration.status import write_plan_state, write_step_state
from revflow.plans.decompose import PlanDraft, StepDraft
from revflow.plans.diff import (
    CurrentStep,
    PlanDiff,
    blocking_ponr,
    diff_plan,
    draft_from_json,
    draft_to_json,
    rerun_input,
    scenario_steps,
    versioned_key,
)
from revflow.plans.ponr import ChangeView, next_compensations, refusal_text
from revflow.plans.state import CANCELLABLE, check_plan_transition

# not started (or given up on): an amendment rewrites or discards these in place
REWRITABLE = frozenset({*CANCELLABLE, StepState.FAILED, StepState.SKIPPED})


async def request_amendment(
    s: AsyncSession,
    writeback: WritebackSettings,
    order: dict[str, Any],
    draft: PlanDraft,
    actor: str,
    scenario: PlanDraft | None = None,
) -> tuple[str, str]:
    """Handle a changed order in the caller's transaction; returns (inbox event status,
    note).

    ``draft`` is the order decomposed as new; ``scenario``, when the plan definition
    has an ``amendment`` scenario, the order decomposed for it: those steps join the
    amended plan and carry the change to the targets (e.g. ``sales_order.update``),
    so completed steps without a compensation are not run again.
    """
    plan_id = await repository.plan_id_of_order(s, draft.order_id)
    plan = (
        await repository.lock_plan(s, plan_id, repository.on_sqlite(s))
        if plan_id is not None
        else None
    )
    if plan is None:
        return EventStatus.PROCESSED, "amendment: the order has no plan"
    state = PlanState(plan.state)
    if state in FROZEN:
        return EventStatus.DEFERRED, f"amendment queued behind the change on plan {plan.id}"
    rows = await repository.plan_steps(s, plan.id)
    diff = diff_plan([_current(r) for r in rows], draft.steps)
    if diff.empty:
        return EventStatus.PROCESSED, "plan already exists"  # and the order did not change
    if state in (PlanState.CANCELLED, PlanState.FAILED, PlanState.CANCELLING):
        return EventStatus.PROCESSED, f"amendment ignored: plan {plan.id} is {state}"
    blocker = blocking_ponr([_current(r) for r in rows], diff)
    if state is PlanState.COMPLETED or blocker is not None:
        passed = ChangeView(blocker.key, blocker.state, ()) if blocker else None
        text = refusal_text("amendment", passed, state)
        refuse(s, writeback, plan, actor, text, change="amendment")
        return EventStatus.PROCESSED, text
    snapshot = OrderSnapshot(order_id=plan.order_id, record=order)
    s.add(snapshot)
    await s.flush()
    version = plan.version + 1
    plan.amendment = {
        "version": version,
        "snapshot_id": snapshot.id,
        "mapping_hashes": draft.mapping_hashes,
        "steps": draft_to_json(draft.steps),
        "scenario_steps": draft_to_json(
            scenario_steps(scenario.steps, f"v{version}", version) if scenario else ()
        ),
    }
    check_plan_transition(state, PlanState.FREEZING)
    plan.state = PlanState.FREEZING
    plan.hold_reason = AMENDMENT
    audit_plan(
        s, actor, plan, "plan.freezing", change="amendment", version=version, **diff.summary()
    )
    await continue_amendment(s, plan, writeback, actor)
    return (
        EventStatus.PROCESSED,
        f"amendment accepted: plan {plan.id} v{version} {plan.state} "
        f"(+{len(diff.added)} -{len(diff.removed)} ~{len(diff.changed)})",
    )


async def continue_amendment(
    s: AsyncSession, plan: Plan, writeback: WritebackSettings, actor: str = "revflow"
) -> bool:
    """Move an amending plan on as far as it can go now; True if work became due."""
    if PlanState(plan.state) not in FROZEN or plan.hold_reason != AMENDMENT:
        return False
    amendment = plan.amendment or {}
    version = int(amendment["version"])
    wanted = {d.key: d for d in draft_from_json(amendment["steps"])}
    rows = {r.key: r for r in await repository.plan_steps(s, plan.id)}
    diff = diff_plan([_current(r) for r in rows.values()], wanted.values())
    note = f"amendment v{version}"

    # 1. what has not started changes in place
    for key in diff.removed:
        row = rows[key]
        if StepState(row.state) in REWRITABLE and not _failed_compensation(row):
            _discard(s, writeback, plan, row, f"removed by {note}")
    for key in diff.changed:
        row, draft = rows[key], wanted[key]
        if StepState(row.state) in REWRITABLE:
            if _may_have_been_sent(row):  # a new key, or the receiver answers the old one
                step_input = rerun_input(draft.input, version)
                _rewrite(
                    row, draft, step_input, versioned_key(draft.idempotency_key, version), note
                )
            else:
                _rewrite(row, draft, dict(draft.input), row.idempotency_key, note)
    await s.flush()
    if any(rows[k].state == StepState.RUNNING for k in diff.affected):
        return False  # running steps finish first
    if plan.state == PlanState.FREEZING:
        plan.state = PlanState.FROZEN
        audit_plan(s, actor, plan, "plan.frozen", change="amendment", version=version)

    # 2. undo done work, dependants first
    if any(rows[k].state == StepState.COMPENSATING for k in diff.affected):
        return False
    if any(_failed_compensation(rows[k]) for k in diff.affected):
        return False  # a compensation failed: an operator decides (see the Order's error)
    views = await repository.change_views(s, plan.id)
    todo = next_compensations(views, only=diff.affected)
    for key in todo:
        await set_step(s, writeback, plan, key, StepState.COMPLETED, StepState.COMPENSATING, note)
    if todo:
        audit_plan(s, actor, plan, "plan.compensating", change="amendment", steps=todo)
        return True

    # 3. the amended plan goes on
    await _apply(s, writeback, plan, rows, wanted, diff, version, note)
    audit_plan(s, actor, plan, "plan.amended", version=version, **diff.summary())
    await settle(s, plan, writeback, actor, change="amendment", version=version)
    await release_queued(s, plan.order_id)
    return True


async def _apply(
    s: AsyncSession,
    writeback: WritebackSettings,
    plan: Plan,
    rows: dict[str, Step],
    wanted: dict[str, StepDraft],
    diff: PlanDiff,
    version: int,
    note: str,
) -> None:
    for key in diff.removed:
        row = rows[key]
        if row.state in (StepState.COMPLETED, StepState.COMPENSATED):
            undone = "compensated" if row.state == StepState.COMPENSATED else "no compensation"
            _discard(s, writeback, plan, row, f"removed by {note} ({undone})")
    extra = draft_from_json((plan.amendment or {}).get("scenario_steps") or ())
    for key in diff.changed:
        row, draft = rows[key], wanted[key]
        if row.state == StepState.COMPLETED and extra:  # the scenario's steps carry it
            row.input = dict(draft.input)
            row.note = f"changed by {note}; carried by {', '.join(e.key for e in extra)}"
        elif row.state in (StepState.COMPLETED, StepState.COMPENSATED):
            _rewrite(
                row,
                draft,
                rerun_input(draft.input, version),
                versioned_key(draft.idempotency_key, version),
                f"runs again for {note}",
            )
            row.output = None
            write_step_state(
                s, writeback, plan.order_id, key, StepState.PENDING, plan.correlation_id
            )
    last = await repository.last_position(s, plan.id)
    for offset, key in enumerate(diff.added, start=1):
        draft = wanted[key]
        again = key in rows  # discarded by an earlier amendment: it comes back
        if not again:
            rows[key] = Step(plan_id=plan.id, key=key, position=last + offset, kind=draft.kind)
            s.add(rows[key])
        row = rows[key]
        _rewrite(
            row,
            draft,
            rerun_input(draft.input, version) if again else dict(draft.input),
            versioned_key(draft.idempotency_key, version) if again else draft.idempotency_key,
            f"added by {note}",
        )
    await s.flush()
    await add_steps(s, plan.id, extra, f"{note} scenario")
    for key, row in rows.items():  # dependencies follow the amended decomposition
        if key in wanted and row.state != StepState.DISCARDED:
            row.depends_on = list(wanted[key].depends_on)
    amendment = plan.amendment or {}
    plan.version = version
    plan.snapshot_id = int(amendment["snapshot_id"])
    plan.mapping_hashes = dict(amendment.get("mapping_hashes") or {})
    plan.amendment = None
    plan.hold_reason = None
    plan.state = PlanState.IN_PROGRESS
    write_plan_state(s, writeback, plan.order_id, PlanState.IN_PROGRESS, plan.correlation_id)
    await s.flush()


def _rewrite(row: Step, draft: StepDraft, step_input: dict[str, Any], key: str, note: str) -> None:
    """Give a step the draft's definition and input, pending again."""
    row.state = StepState.PENDING
    row.kind = draft.kind
    row.connector = draft.connector
    row.action = draft.action
    row.depends_on = list(draft.depends_on)
    row.input = step_input
    row.idempotency_key = key
    row.mapping_hash = draft.mapping_hash
    row.scope_key = draft.scope_key
    row.ponr = draft.ponr
    row.compensation_key = draft.compensation_key
    row.expected_duration_s = draft.expected_duration_s
    row.retry_policy = draft.retry_policy
    row.wait_key = draft.wait_key
    row.wait_until = draft.pause_until
    row.assignee = draft.assignee
    row.attempts = 0
    row.error = None
    row.due_at = None
    row.lease_owner = None
    row.lease_expires_at = None
    row.started_at = None
    row.finished_at = None
    row.note = note


def _discard(
    s: AsyncSession, writeback: WritebackSettings, plan: Plan, row: Step, note: str
) -> None:
    row.state = StepState.DISCARDED
    row.lease_owner = None
    row.lease_expires_at = None
    row.finished_at = utcnow()
    row.note = note
    write_step_state(s, writeback, plan.order_id, row.key, StepState.DISCARDED, plan.correlation_id)


def _may_have_been_sent(row: Step) -> bool:
    """An attempt was made, or the step is a re-run already (its payload has a revision)."""
    payload = (row.input or {}).get("payload")
    return row.attempts > 0 or (isinstance(payload, dict) and "revision" in payload)


def _failed_compensation(row: Step) -> bool:
    return row.state == StepState.FAILED and (row.note or "").startswith(COMPENSATION_NOTE)


def _current(row: Step) -> CurrentStep:
    return CurrentStep(row.key, StepState(row.state), row.input or {}, row.scope_key, row.ponr)
