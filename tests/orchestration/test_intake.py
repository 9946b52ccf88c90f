"""Intake against a real database and the sandbox org on loopback: transactions,
echoes, gap and overflow events."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from revflow.db.models import EventStatus, ReceivedEvent
from revflow.orchestration.intake import READ_INCIDENT
from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, SandboxOrg
from tests.orgkit import (
    ORDER_CHANNEL,
    Shop,
    feed,
    header_event,
    inbox,
    incidents,
    make_intake,
    org_events,
    planned,
    settings_for,
    sf_client,
)


@pytest.fixture
async def env(org, db, database_url):
    """(shop, intake) with default settings; rebuild the intake for other settings."""
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    yield Shop(org), make_intake(db, client, settings)
    await client.aclose()


def tip(org: SandboxOrg) -> int:
    events = org.events.all_events()
    return events[-1].replay_id if events else 0


async def test_split_transaction_is_held_back_then_handled_whole_in_sequence(org, db, database_url):
    shop = Shop(org)
    ids = [shop.order(activate=False) for _ in range(3)]
    before = tip(org)
    shop.activate(*ids)  # one transaction, sequence 1..3
    other = shop.order(activate=False)
    activation = org_events(org, after=before)
    activation = [e for e in activation if e.channel == ORDER_CHANNEL and e.change_type == "UPDATE"]
    assert len({e.transaction_key for e in activation}) == 1 and len(activation) == 3
    draft_create = [e for e in org_events(org) if other in e.record_ids][:1]
    await feed(db, draft_create + activation[::-1])  # ids run against sequence order

    settings = settings_for(org, database_url, ingest={"batch_size": 3})
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    assert await intake.process_batch() == 1  # the activation is cut by the batch: held back
    assert await planned(db) == []
    rows = await inbox(db)
    assert [r.status for r in rows] == ["skipped", "received", "received", "received"]
    assert await intake.process_batch() == 3  # the only transaction in a full batch
    assert await planned(db) == ids  # plans made in sequence order
    assert all(r.status == EventStatus.PROCESSED for r in (await inbox(db))[1:])
    assert await intake.process_batch() == 0
    await client.aclose()


# ---- echoes ----------------------------------------------------------------------


def skipped_metric(reason: str) -> float:
    return REGISTRY.get_sample_value("revflow_events_skipped_total", {"reason": reason}) or 0.0


async def test_echoes_by_client_user_and_fields_are_counted(org, db, database_url):
    shop = Shop(org)
    oid = shop.order()
    before = tip(org)
    store = shop.store
    store.update(
        "Order",
        oid,
        {"Fulfillment_Status__c": "In Progress"},
        user_id=DEMO_USER_ID,
        origin="com/salesforce/api/rest/62.0;client=revflow",
    )
    store.update(
        "Order", oid, {"Description": "by the integration user"}, user_id=INTEGRATION_USER_ID
    )
    store.update(
        "Order",
        oid,
        {"Fulfillment_Status__c": "Completed", "ERP_Order_Number__c": "SO-1"},
        user_id=DEMO_USER_ID,
        origin="com/salesforce/api/rest/62.0",
    )
    store.update("Order", oid, {"Description": "a user's edit"}, user_id=DEMO_USER_ID)
    events = org_events(org, after=before)
    assert len(events) == 4
    await feed(db, events)

    settings = settings_for(
        org, database_url, salesforce={"integration_user_id": INTEGRATION_USER_ID}
    )
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    reasons = ("echo_client", "echo_user", "echo_fields", "no_trigger")
    metric_before = {r: skipped_metric(r) for r in reasons}
    assert await intake.process_batch() == 4
    assert intake.skipped == dict.fromkeys(reasons, 1)
    assert {r: skipped_metric(r) - metric_before[r] for r in reasons} == dict.fromkeys(reasons, 1)
    notes = [r.note for r in await inbox(db)]
    assert "echo_fields" in (notes[2] or "") and notes[3] == "no trigger"
    await client.aclose()


async def test_echo_by_fields_can_be_switched_off(org, db, database_url):
    shop = Shop(org)
    oid = shop.order()
    before = tip(org)
    shop.store.update("Order", oid, {"Fulfillment_Error__c": "boom"}, user_id=DEMO_USER_ID)
    await feed(db, org_events(org, after=before))
    settings = settings_for(org, database_url, ingest={"echo_by_fields": False})
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    await intake.process_batch()
    assert intake.skipped == {"no_trigger": 1}
    await client.aclose()


async def test_batch_delay_waits_for_a_fuller_batch(org, db, database_url):
    from datetime import timedelta

    from sqlalchemy import update

    from revflow.clock import utcnow

    shop = Shop(org)
    first = shop.order()
    await feed(db, org_events(org))
    settings = settings_for(org, database_url, ingest={"batch_delay_s": 30})
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    assert await intake.process_batch() == 0  # young and not full: it waits
    assert await planned(db) == []
    before = tip(org)
    second = shop.order()
    await feed(db, org_events(org, after=before))
    async with db.write() as s:  # the oldest event is now older than the delay
        await s.execute(update(ReceivedEvent).values(received_at=utcnow() - timedelta(minutes=1)))
    calls = org.usage.used
    assert await intake.process_batch() > 0
    assert sorted(await planned(db)) == sorted([first, second])
    assert org.usage.used - calls == 1  # one order query for both
    await client.aclose()


# ---- activation, gaps, overflow ---------------------------------------------------


async def test_activation_events_create_one_plan(env, org, db):
    shop, intake = env
    oid = shop.order()
    await feed(db, org_events(org))
    await intake.process_batch()
    assert await planned(db) == [oid]
    await feed(db, [header_event("GAP_UPDATE", "Order", [oid])])
    await intake.process_batch()
    assert await planned(db) == [oid]  # the gap re-read finds the plan: no second one


async def test_gap_update_re_reads_the_order_and_plans_from_current_state(env, org, db):
    shop, intake = env
    missed, draft = shop.order(), shop.order(activate=False)  # no events fed for either
    await feed(
        db,
        [
            header_event("GAP_UPDATE", "Order", [missed], replay_id=1),
            header_event("GAP_CREATE", "Order", [draft], replay_id=2),
        ],
    )
    assert await intake.process_batch() == 2
    assert await planned(db) == [missed]
    gaps = await incidents(db, "gap")
    assert [(i.entity, i.detail["record_ids"]) for i in gaps] == [
        ("Order", [missed]),
        ("Order", [draft]),
    ]
    assert "1 plan(s) created" in (gaps[0].recovery or "")
    assert gaps[1].detail["orders"] == {draft: "order is 'Draft' now"}
    assert all(i.resolved_at is not None for i in gaps)
    assert {r.status for r in await inbox(db)} == {EventStatus.PROCESSED}


async def test_order_item_gap_re_reads_the_parent_order(env, org, db):
    shop, intake = env
    oid = shop.order()
    item = shop.item(oid)
    await feed(db, [header_event("GAP_UPDATE", "OrderItem", [item])])
    await intake.process_batch()
    assert await planned(db) == [oid]
    (incident,) = await incidents(db, "gap")
    assert incident.entity == "OrderItem" and "parent Order" in (incident.recovery or "")


async def test_gap_delete_is_noted_without_a_plan(env, org, db):
    shop, intake = env
    oid = shop.order()
    shop.store.delete("Order", oid, user_id=DEMO_USER_ID)
    await feed(db, [header_event("GAP_DELETE", "Order", [oid])])
    await intake.process_batch()
    assert await planned(db) == []
    (incident,) = await incidents(db, "gap")
    assert incident.recovery is not None
    assert incident.detail["change_type"] == "GAP_DELETE" and "deleted" in incident.recovery
    (event,) = await inbox(db)
    assert event.status == EventStatus.PROCESSED and "deleted" in (event.note or "")


async def test_overflow_runs_a_reconciliation_query_over_the_window(env, org, db):
    shop, intake = env
    real_clock = org.events.clock
    org.events.clock = lambda: real_clock() - 3600
    old = shop.order()  # activated an hour before the overflow: outside the window
    org.events.clock = real_clock
    missed = [shop.order() for _ in range(3)]
    await feed(db, [e for e in org_events(org) if missed[0] in e.record_ids])
    await intake.process_batch()  # missed[0] arrives normally
    assert await planned(db) == [missed[0]]

    commit_ms = int((time.time() - 5) * 1000)
    await feed(db, [header_event("GAP_OVERFLOW", "Order", [], commit_ms=commit_ms, replay_id=99)])
    await intake.process_batch()
    assert sorted(await planned(db)) == sorted(missed)  # none twice, the old one not at all
    assert old not in await planned(db)
    (incident,) = await incidents(db, "overflow")
    assert incident.entity == "Order" and "2 plan(s) created" in (incident.recovery or "")
    assert "SystemModstamp >=" in (incident.recovery or "")


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


# ---- errors waiting will not fix ----------------------------------------------------


async def _until(predicate, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def test_a_field_the_org_lacks_is_an_incident_retried_slowly(org, db, database_url):
    """Once reproduced as: an order read failing with INVALID_FIELD retried forever, once
    a minute, with nothing recorded.  Now: one open incident, retried every
    incident_retry_s (new events do not hasten it), resolved when the read works."""
    shop = Shop(org)
    order_id = shop.order()
    await feed(db, org_events(org))
    org.missing_fields = {"Order.PoNumber"}  # e.g. field access revoked from the user
    settings = settings_for(org, database_url, salesforce={"incident_retry_s": 3600.0})
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(intake.run(stop))

    async def opened() -> bool:
        return bool(await incidents(db, "salesforce_permanent"))

    await _until(opened)
    calls = org.usage.by_app["revflow"]
    intake.wakeup.set()  # as the consumer does for every new event
    await asyncio.sleep(2.5)  # a transient error would have been retried twice by now
    assert org.usage.by_app["revflow"] == calls
    [incident] = await incidents(db, "salesforce_permanent")
    assert incident.open_key == READ_INCIDENT and incident.blocking and incident.count == 1
    assert incident.detail["code"] == "INVALID_FIELD"
    assert "No such column 'PoNumber' on entity 'Order'" in incident.detail["message"]
    assert await planned(db) == []
    stop.set()
    await task

    # the field is back; a restarted intake resolves the incident with its first read
    org.missing_fields.clear()
    again = make_intake(db, client, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(again.run(stop))

    async def resolved() -> bool:
        return (await incidents(db, "salesforce_permanent"))[0].resolved_at is not None

    await _until(resolved)
    stop.set()
    await task
    assert await planned(db) == [order_id]
    await client.aclose()


async def test_a_transient_read_failure_is_retried_with_backoff_until_it_works(
    org, db, database_url, caplog
):
    """REQUEST_LIMIT_EXCEEDED on the order read: no incident, retried (tenacity, the
    read backoff) until the org answers again, then the plan is created."""
    shop = Shop(org)
    order_id = shop.order()
    await feed(db, org_events(org))
    org.faults.request_limit_exceeded = True
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(intake.run(stop))

    async def refused_twice() -> bool:
        return org.faults_injected.get("request_limit_exceeded", 0) >= 2

    await _until(refused_twice)
    assert await incidents(db, "salesforce_permanent") == []
    assert await planned(db) == []
    retries = [r for r in caplog.records if r.getMessage() == "reading orders failed; retrying"]
    assert len(retries) >= 2 and "REQUEST_LIMIT_EXCEEDED" in retries[0].error  # type: ignore[attr-defined]
    org.faults.request_limit_exceeded = False

    async def created() -> bool:
        return order_id in await planned(db)

    await _until(created)
    stop.set()
    await task
    await client.aclose()


async def test_a_stop_during_the_read_backoff_ends_the_loop(org, db, database_url):
    shop = Shop(org)
    shop.order()
    await feed(db, org_events(org))
    org.faults.request_limit_exceeded = True
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(intake.run(stop))

    async def refused() -> bool:
        return org.faults_injected.get("request_limit_exceeded", 0) >= 1

    await _until(refused)
    stop.set()
    await asyncio.wait_for(task, 10)  # returns, raises nothing
    await client.aclose()


async def test_intake_and_a_sweep_planning_one_order_at_once_make_one_plan(env, org, db):
    """The intake loop and the reconciler share ``create_plans_for_orders``: run
    together for the same order, neither fails on the plans' unique key."""
    shop, intake = env
    oid = shop.order()
    outcomes = await asyncio.gather(
        intake.create_plans_for_orders([oid], "activation"),
        intake.create_plans_for_orders([oid], "sweep"),
    )
    assert await planned(db) == [oid]
    assert sorted(o[oid].created for o in outcomes) == [False, True]
