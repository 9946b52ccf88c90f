"""Plan persistence: store a decomposed plan with its snapshot and first intents."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.db.models import OrderSnapshot, Plan, PlanProductFamily, PlanState, Step, StepState
from revflow.links import ConsoleSettings, plan_url
from revflow.orchestration import repository
from revflow.orchestration.jeopardy_watch import refresh
from revflow.orchestration.status import write_plan_state
from revflow.plans.decompose import PlanDraft
from revflow.plans.facets import facets_of
from revflow.plans.jeopardy import due_date
from revflow.plans.state import StepView, newly_ready
from revflow.salesforce import outbox


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
    """Insert snapshot, plan and steps; make the first steps ready; enqueue 'In Progress'
    and, with ``console.public_url``, the link to the plan's console page.  The order's
    facets (region, channel, account, product families) are kept for the console.

    The plan is due at the order's requested date (``writeback.due_date_field``).
    """
    snapshot = OrderSnapshot(order_id=draft.order_id, record=order)
    session.add(snapshot)
    await session.flush()
    now = utcnow()
    cfg = console or ConsoleSettings()
    facets = facets_of(order, cfg.region_field, cfg.channel_field)
    plan = Plan(
        order_id=draft.order_id,
        scenario=draft.scenario,
        definition=draft.definition,
        correlation_id=draft.correlation_id,
        state=PlanState.IN_PROGRESS,
        snapshot_id=snapshot.id,
        mapping_hashes=draft.mapping_hashes,
        due_at=due_date(order, writeback.due_date_field),
        region=facets.region,
        channel=facets.channel,
        account_id=facets.account_id,
    )
    session.add(plan)
    await session.flush()
    session.add_all(PlanProductFamily(plan_id=plan.id, family=f) for f in facets.families)
    # steps skipped by their `when:` condition are created skipped (done), with the reason
    initial = {s.key: StepState.SKIPPED if s.skipped else StepState.PENDING for s in draft.steps}
    ready = set(newly_ready(StepView(s.key, initial[s.key], s.depends_on) for s in draft.steps))
    for s in draft.steps:
        session.add(
            Step(
                plan_id=plan.id,
                key=s.key,
                position=s.position,
                kind=s.kind,
                connector=s.connector,
                action=s.action,
                depends_on=list(s.depends_on),
                state=StepState.READY if s.key in ready else initial[s.key],
                due_at=now if s.key in ready else None,
                idempotency_key=s.idempotency_key,
                input=s.input,
                mapping_hash=s.mapping_hash,
                scope_key=s.scope_key,
                ponr=s.ponr,
                compensation_key=s.compensation_key,
                expected_duration_s=s.expected_duration_s,
                retry_policy=s.retry_policy,
                wait_key=s.wait_key,
                wait_until=s.pause_until,
                assignee=s.assignee,
                note=s.skip_reason,
                finished_at=now if s.skipped else None,
            )
        )
    write_plan_state(
        session, writeback, draft.order_id, PlanState.IN_PROGRESS, draft.correlation_id
    )
    link = plan_url(console, plan.id) if console else None
    if link and writeback.plan_url_field:  # coalesced with the status into one update
        fields = {writeback.plan_url_field: link}
        outbox.enqueue(session, "Order", draft.order_id, fields, draft.correlation_id)
    audit.record(
        session,
        actor,
        "plan.created",
        plan_id=plan.id,
        order_id=draft.order_id,
        correlation_id=draft.correlation_id,
        definition=draft.definition,
        mapping_hashes=draft.mapping_hashes,
        due_at=plan.due_at.isoformat() if plan.due_at else None,
    )
    await refresh(session, plan, writeback, actor)
    return plan
