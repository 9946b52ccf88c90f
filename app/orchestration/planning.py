"""Intake's plans for one batch of orders, in the caller's transaction.

Each order read is judged on its own (gone, not Activated now, already planned) and
the plans of the rest are stored together (``plans.create_plans``): one query for the
plans that exist, one INSERT per table, whatever the batch's size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.config import Settings
from revflow.db.models import EventStatus
from revflow.orchestration import repository
from revflow.orchestration.batches import PLANNED, OrderOutcome
from revflow.orchestration.plans import NewPlan, create_plans
from revflow.plans.decompose import CompiledMapping, decompose
from revflow.plans.definitions import PlanDefinition

log = logging.getLogger("revflow.intake")

CREATED = OrderOutcome(EventStatus.PROCESSED, None, created=True)


def judge(order_id: str, order: dict[str, Any] | None) -> OrderOutcome | None:
    """Why an order read gets no plan (None: it should have one)."""
    if order is None:
        return OrderOutcome(EventStatus.SKIPPED, "order not found in Salesforce (deleted?)")
    if order.get("Status") != "Activated":
        return OrderOutcome(EventStatus.SKIPPED, f"order is {order.get('Status')!r} now")
    return None


async def plan_orders(
    s: AsyncSession,
    order_ids: Sequence[str],
    orders: Mapping[str, dict[str, Any]],
    why: Callable[[str], str],
    definition: PlanDefinition,
    mappings: Mapping[str, CompiledMapping],
    settings: Settings,
) -> dict[str, OrderOutcome]:
    """Create the plans of ``order_ids`` (read as ``orders``) that should have one and
    have none yet; an outcome for each.  A plan made for a reason other than
    ``activation`` (a recovery) is audited as ``plan.recovered``."""
    outcomes: dict[str, OrderOutcome] = {}
    wanted: list[str] = []
    for oid in order_ids:
        refused = judge(oid, orders.get(oid))
        if refused is None:
            wanted.append(oid)
        else:
            outcomes[oid] = refused
    # checked again in this transaction: the reconciler may have planned some meanwhile
    exist = await repository.planned_orders(s, wanted) if wanted else set()
    ids = [oid for oid in wanted if oid not in exist]
    outcomes.update((oid, PLANNED) for oid in wanted if oid in exist)
    new: list[NewPlan] = [(decompose(definition, orders[o], mappings), orders[o]) for o in ids]
    wb, console = settings.writeback, settings.console
    plan_ids = await create_plans(s, new, wb, console=console)
    for oid, (draft, _), plan_id in zip(ids, new, plan_ids, strict=True):
        outcomes[oid] = CREATED
        reason = why(oid)
        if reason != "activation":
            log.info("plan created by recovery", extra={"order_id": oid, "reason": reason})
            audit.record(
                s,
                "revflow",
                "plan.recovered",
                plan_id=plan_id,
                order_id=oid,
                correlation_id=draft.correlation_id,
                reason=reason,
            )
    return {oid: outcomes[oid] for oid in order_ids}
