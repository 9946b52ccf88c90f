"""Plan persistence: store decomposed plans with their snapshots and first intents.

``create_plans`` stores a batch of plans with one INSERT per table (snapshots, plans,
product families, steps, outbox items): intake creates the plans of a whole inbox
batch in one transaction, and round trips, not rows, are what cost.  A new plan's
jeopardy is judged from its draft (no step has started), not read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.alerts.service import raise_deferred
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.bulk import insert_ids, insert_rows
from revflow.db.models import OrderSnapshot, Plan, PlanProductFamily, PlanState, Step, StepState
from revflow.links import ConsoleSettings, plan_url
from revflow.orchestration import repository
from revflow.orchestration.status import plan_state_fields
from revflow.plans.decompose import PlanDraft
from revflow.plans.facets import facets_of
from revflow.plans.jeopardy import Margin, StepTiming, due_date, plan_jeopardy, step_jeopardy
from revflow.plans.state import StepView, newly_ready
from revflow.salesforce import outbox
from revflow.salesforce.targets import fields_for

NewPlan = tuple[PlanDraft, dict[str, Any]]  # the draft, and the order it was made from


async def plan_exists(session: AsyncSession, order_id: str, scenario: str) -> bool:
    return await repository.plan_id_of_order(session, order_id, scenario) is not None


async def create_plan(
    session: AsyncSession,
    draft: PlanDraft,
    order: dict[str, Any],
    writeback: WritebackSettings,
    actor: str = "revflow",
    console: ConsoleSettings | None = None,
) -> Plan:
    """``create_plans`` for one plan; returns the stored plan."""
    (plan_id,) = await create_plans(session, [(draft, order)], writeback, actor, console)
    plan = await repository.get_plan(session, plan_id)
    assert plan is not None  # inserted just now, in this transaction
    return plan


async def create_plans(
    session: AsyncSession,
    new: Sequence[NewPlan],
    writeback: WritebackSettings,
    actor: str = "revflow",
    console: ConsoleSettings | None = None,
) -> list[int]:
    """Insert snapshot, plan and steps of each; make the first steps ready; enqueue 'In
    Progress', the plan's jeopardy and, with ``console.public_url``, the link to the
    plan's console page.  The order's facets (region, channel, account, product
    families) are kept for the console.  Returns the plan ids, in ``new``'s order.

    Each plan is due at its order's requested date (``writeback.due_date_field``).
    """
    if not new:
        return []
    now = utcnow()
    cfg = console or ConsoleSettings()
    margin = Margin(writeback.jeopardy_margin_share, writeback.jeopardy_margin_s)
    snapshot_ids = await insert_ids(
        session,
        OrderSnapshot,
        [{"order_id": draft.order_id, "record": order} for draft, order in new],
    )
    plans: list[dict[str, Any]] = []
    steps: list[list[dict[str, Any]]] = []
    families: list[tuple[str, ...]] = []
    for (draft, order), snapshot_id in zip(new, snapshot_ids, strict=True):
        facets = facets_of(order, cfg.region_field, cfg.channel_field)
        due_at = due_date(order, writeback.due_date_field)
        rows, timings = _step_rows(draft, now)
        plans.append(
            {
                "order_id": draft.order_id,
                "scenario": draft.scenario,
                "definition": draft.definition,
                "correlation_id": draft.correlation_id,
                "state": PlanState.IN_PROGRESS,
                "snapshot_id": snapshot_id,
                "mapping_hashes": draft.mapping_hashes,
                "due_at": due_at,
                "jeopardy": plan_jeopardy(due_at, now, timings, margin),
                "region": facets.region,
                "channel": facets.channel,
                "account_id": facets.account_id,
            }
        )
        steps.append(rows)
        families.append(facets.families)
    plan_ids = await insert_ids(session, Plan, plans)
    family_rows = [
        {"plan_id": pid, "family": f}
        for pid, fams in zip(plan_ids, families, strict=True)
        for f in fams
    ]
    step_rows = [
        {"plan_id": pid, **row} for pid, rows in zip(plan_ids, steps, strict=True) for row in rows
    ]
    await insert_rows(session, PlanProductFamily, family_rows)
    await insert_rows(session, Step, step_rows)
    writes: list[outbox.Write] = []
    for (draft, _), plan, pid in zip(new, plans, plan_ids, strict=True):
        writes += _first_writes(writeback, console, draft, plan, pid)
    audit.record_many(
        session,
        actor,
        "plan.created",
        (
            {
                "plan_id": pid,
                "order_id": draft.order_id,
                "correlation_id": draft.correlation_id,
                "definition": draft.definition,
                "mapping_hashes": draft.mapping_hashes,
                "due_at": plan["due_at"].isoformat() if plan["due_at"] else None,
            }
            for (draft, _), plan, pid in zip(new, plans, plan_ids, strict=True)
        ),
    )
    await outbox.enqueue_many(session, writes)
    await raise_deferred(session)  # alerts kept on the session: raised in this transaction
    return plan_ids


def _step_rows(draft: PlanDraft, now: datetime) -> tuple[list[dict[str, Any]], list[StepTiming]]:
    """The draft's step rows (steps skipped by their `when:` condition are created
    skipped, done, with the reason) and their timings, for the plan's jeopardy."""
    initial = {s.key: StepState.SKIPPED if s.skipped else StepState.PENDING for s in draft.steps}
    ready = set(newly_ready(StepView(s.key, initial[s.key], s.depends_on) for s in draft.steps))
    rows: list[dict[str, Any]] = []
    timings: list[StepTiming] = []
    for s in draft.steps:
        state = StepState.READY if s.key in ready else initial[s.key]
        finished_at = now if s.skipped else None
        timing = StepTiming(
            s.key, state, tuple(s.depends_on), s.expected_duration_s, None, finished_at
        )
        timings.append(timing)
        rows.append(
            {
                "key": s.key,
                "position": s.position,
                "kind": s.kind,
                "connector": s.connector,
                "action": s.action,
                "depends_on": list(s.depends_on),
                "state": state,
                "due_at": now if s.key in ready else None,
                "idempotency_key": s.idempotency_key,
                "input": s.input,
                "mapping_hash": s.mapping_hash,
                "scope_key": s.scope_key,
                "ponr": s.ponr,
                "compensation_key": s.compensation_key,
                "expected_duration_s": s.expected_duration_s,
                "retry_policy": s.retry_policy,
                "wait_key": s.wait_key,
                "wait_until": s.pause_until,
                "assignee": s.assignee,
                "note": s.skip_reason,
                "finished_at": finished_at,
                "jeopardy": step_jeopardy(timing, now),  # no step has started: None or on_time
            }
        )
    return rows, timings


def _first_writes(
    writeback: WritebackSettings,
    console: ConsoleSettings | None,
    draft: PlanDraft,
    plan: dict[str, Any],
    plan_id: int,
) -> list[outbox.Write]:
    """A new plan's writes to its record: 'In Progress', the plan link, the jeopardy."""
    order_id, correlation_id = draft.order_id, draft.correlation_id
    target = fields_for(writeback, order_id)
    writes: list[outbox.Write] = []
    status = plan_state_fields(writeback, PlanState.IN_PROGRESS, None, order_id)
    if status:
        writes.append(outbox.Write(target.sobject, order_id, status, correlation_id))
    link = plan_url(console, plan_id) if console else None
    if link and writeback.plan_url_field:  # coalesced with the status into one update
        fields = {writeback.plan_url_field: link}
        writes.append(outbox.Write("Order", order_id, fields, correlation_id))
    if plan["jeopardy"] is not None and target.jeopardy_field:
        fields = {target.jeopardy_field: plan["jeopardy"]}
        writes.append(outbox.Write(target.sobject, order_id, fields, correlation_id))
    return writes
