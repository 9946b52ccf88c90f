"""plan_orders: an outcome for every order read, plans for those that should have one,
and recoveries audited."""

from __future__ import annotations

from sqlalchemy import select

from revflow.config import Settings
from revflow.db.models import AuditEntry, EventStatus, Plan
from revflow.mapping import load_directory
from revflow.orchestration.batches import PLANNED
from revflow.orchestration.planning import CREATED, plan_orders
from revflow.plans.files import load_plan_file
from tests.plans import MAPPINGS, PLANS, order

FULL = load_plan_file(PLANS / "order_fulfillment_full.yaml")
NEW, AGAIN, DRAFT, GONE, RECOVERED = (f"8015e00000Q7mN{i}AAJ" for i in range(5))


async def _plan(db, ids, orders, why=lambda _oid: "activation"):
    async with db.write() as s:
        return await plan_orders(s, ids, orders, why, FULL, load_directory(MAPPINGS), Settings())


async def test_each_order_gets_its_outcome(db) -> None:
    await _plan(db, [AGAIN], {AGAIN: order(Id=AGAIN)})
    orders = {
        NEW: order(Id=NEW),
        AGAIN: order(Id=AGAIN),  # planned meanwhile (by the reconciler)
        DRAFT: order(Id=DRAFT, Status="Draft"),
    }
    outcomes = await _plan(db, [NEW, AGAIN, DRAFT, GONE], orders)
    assert list(outcomes) == [NEW, AGAIN, DRAFT, GONE]
    assert outcomes[NEW] == CREATED and outcomes[AGAIN] == PLANNED
    assert outcomes[DRAFT].status == EventStatus.SKIPPED
    assert outcomes[DRAFT].note == "order is 'Draft' now"
    assert outcomes[GONE].note == "order not found in Salesforce (deleted?)"
    async with db.read() as s:
        planned = (await s.scalars(select(Plan.order_id).order_by(Plan.id))).all()
    assert planned == [AGAIN, NEW]


async def test_a_plan_made_by_a_recovery_is_audited_as_one(db) -> None:
    orders = {NEW: order(Id=NEW), RECOVERED: order(Id=RECOVERED)}
    reasons = {NEW: "activation", RECOVERED: "gap"}
    await _plan(db, [NEW, RECOVERED], orders, reasons.__getitem__)
    async with db.read() as s:
        entries = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    recovered = [(e.order_id, e.detail) for e in entries if e.action == "plan.recovered"]
    assert recovered == [(RECOVERED, {"reason": "gap"})]
    assert [e.order_id for e in entries if e.action == "plan.created"] == [NEW, RECOVERED]
    # in the order recorded: created, then recovered
    assert [(e.action, e.order_id) for e in entries][-1] == ("plan.recovered", RECOVERED)
