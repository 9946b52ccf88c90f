"""Intake against a real database and the sandbox org on loopback: activation, gap and
overflow events, and a sweep planning the same order."""

from __future__ import annotations

import asyncio
import time

from revflow.db.models import EventStatus
from revflow.sandbox.org import DEMO_USER_ID
from tests.orchestration.intakekit import intake_env  # noqa: F401  (the env fixture)
from tests.orgkit import (
    feed,
    header_event,
    inbox,
    incidents,
    org_events,
    planned,
)

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
