"""Intake against a real database and the sandbox org on loopback: amendments to
activated orders."""

from __future__ import annotations

from revflow.sandbox.org import DEMO_USER_ID
from tests.orchestration.intakekit import (
    intake_env,  # noqa: F401  (the env fixture)
    tip,
)
from tests.orgkit import (
    feed,
    header_event,
    inbox,
    org_events,
    planned,
)

# ---- amendments -------------------------------------------------------------------


async def plan_of(db, order_id: str):
    from sqlalchemy import select

    from revflow.db.models import Plan, Step

    async with db.read() as s:
        plan = (await s.scalars(select(Plan).where(Plan.order_id == order_id))).one()
        steps = {st.key: st for st in await s.scalars(select(Step).where(Step.plan_id == plan.id))}
    return plan, steps


def quantities(step) -> list[float]:
    return [line["quantity"] for line in step.input["payload"]["lines"]]


async def test_a_line_edited_on_an_activated_order_amends_its_plan(env, org, db):
    shop, intake = env
    oid, unplanned = shop.order(), shop.order(activate=False)
    await feed(db, org_events(org))
    await intake.process_batch()
    plan, steps = await plan_of(db, oid)
    assert plan.version == 1 and quantities(steps["create_sales_order"]) == [2.0]
    before = tip(org)
    (item,) = [i for i in org.records["OrderItem"].values() if i["OrderId"] == oid]
    (other,) = [i for i in org.records["OrderItem"].values() if i["OrderId"] == unplanned]
    shop.store.update("OrderItem", item["Id"], {"Quantity": 7.0}, user_id=DEMO_USER_ID)
    shop.store.update("OrderItem", other["Id"], {"Quantity": 3.0}, user_id=DEMO_USER_ID)
    await feed(db, org_events(org, after=before))
    await intake.process_batch()
    plan, steps = await plan_of(db, oid)
    assert plan.version == 2 and plan.state == "in_progress"
    assert quantities(steps["create_sales_order"]) == [7.0]  # not sent yet: new input in place
    notes = {e.record_ids[0]: e.note for e in await inbox(db) if e.entity == "OrderItem"}
    assert notes[other["Id"]] == "order line of an order without a plan"
    item_note = notes[item["Id"]]
    assert item_note is not None and item_note.startswith("amendment accepted")


async def test_reactivating_an_unchanged_order_changes_nothing(env, org, db):
    shop, intake = env
    oid = shop.order()
    await feed(db, org_events(org))
    await intake.process_batch()
    before = tip(org)
    shop.store.update("Order", oid, {"Status": "Draft"}, user_id=DEMO_USER_ID)
    shop.activate(oid)
    await feed(db, org_events(org, after=before))
    await intake.process_batch()
    plan, _ = await plan_of(db, oid)
    assert plan.version == 1
    assert (await inbox(db))[-1].note == "plan already exists"


async def test_a_gap_in_place_of_a_lost_amendment_still_amends_the_plan(env, org, db):
    shop, intake = env
    oid = shop.order()
    await feed(db, org_events(org))
    await intake.process_batch()
    (item,) = [i for i in org.records["OrderItem"].values() if i["OrderId"] == oid]
    # the line's change event is lost: the org sends a gap event for the line instead
    shop.store.update("OrderItem", item["Id"], {"Quantity": 9.0}, user_id=DEMO_USER_ID)
    await feed(db, [header_event("GAP_UPDATE", "OrderItem", [item["Id"]], replay_id=900)])
    await intake.process_batch()
    plan, steps = await plan_of(db, oid)
    assert plan.version == 2 and quantities(steps["create_sales_order"]) == [9.0]


async def test_an_order_found_cancelled_before_its_plan_is_written_cancelled(env, org, db):
    from sqlalchemy import select

    from revflow.db.models import WritebackItem

    shop, intake = env
    oid = shop.order()
    activation = org_events(org)
    # the cancellation's own event is lost: only the activation reaches Revflow
    shop.store.update("Order", oid, {"Status": "Cancelled"}, user_id=DEMO_USER_ID)
    await feed(db, activation)
    await intake.process_batch()
    assert await planned(db) == []
    async with db.read() as s:
        fields = [w.fields for w in await s.scalars(select(WritebackItem))]
    assert {"Fulfillment_Status__c": "Cancelled", "Fulfillment_Error__c": None} in fields
