"""The SystemModstamp sweep and window reconciliation, against a real database and the
sandbox org on loopback."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from revflow.clock import utcnow
from revflow.db.models import AuditEntry, WritebackItem
from revflow.ingest.reconcile import Reconciler, parse_modstamp, soql_datetime
from revflow.orchestration.changes import NO_PLAN_CANCELLED
from revflow.sandbox.org import DEMO_USER_ID, SandboxOrg
from tests.orgkit import (
    Shop,
    feed,
    inbox,
    incidents,
    make_intake,
    org_events,
    planned,
    settings_for,
    sf_client,
)


@pytest.fixture
async def kit(org, db, database_url):
    """Build (shop, intake, reconciler) for settings overrides; closes the clients."""
    clients = []
    shop = Shop(org)

    def build(settle_s: float | None = 0.0, page_size: int = 2000, **overrides):
        settings = settings_for(org, database_url, **overrides)
        client = sf_client(settings)
        clients.append(client)
        intake = make_intake(db, client, settings)
        sweeper = Reconciler(
            db,
            client,
            settings,
            intake,
            settle_s=settle_s,
            page_size=page_size,
            polling_interval_s=0.05,
        )
        return shop, intake, sweeper

    yield build
    for client in clients:
        await client.aclose()


def modstamp(org: SandboxOrg, order_id: str):
    return parse_modstamp(org.records["Order"][order_id]["SystemModstamp"])


def backdated(org: SandboxOrg, seconds: float):
    real = org.events.clock
    org.events.clock = lambda: real() - seconds
    return real


def test_soql_datetime_keeps_milliseconds():
    stamp = parse_modstamp("2026-01-01T12:00:00.123+0000")
    assert soql_datetime(stamp) == "2026-01-01T12:00:00.123Z"


async def test_sweep_finds_an_activation_the_stream_never_delivered(kit, org, db):
    shop, intake, sweeper = kit()
    seen, missed = shop.order(), shop.order()
    await feed(db, [e for e in org_events(org) if seen in e.record_ids])
    await intake.process_batch()
    result = await sweeper.sweep_once()
    assert result.created == [missed] and result.seen == 2
    assert await planned(db) == [seen, missed]
    (incident,) = await incidents(db, "sweep_found")
    assert incident.detail["order_ids"] == [missed] and incident.resolved_at is not None
    assert await sweeper.cursor() == max(modstamp(org, seen), modstamp(org, missed))
    async with db.read() as s:
        audit = await s.scalars(select(AuditEntry).where(AuditEntry.action == "plan.recovered"))
        assert [(a.order_id, a.detail["reason"]) for a in audit] == [(missed, "sweep")]
    # the late event for the same order finds the plan: one path, no duplicate
    await feed(db, [e for e in org_events(org) if missed in e.record_ids])
    await intake.process_batch()
    assert await planned(db) == [seen, missed]
    assert (await inbox(db))[-1].note == "plan already exists"


async def test_sweep_is_idempotent_and_the_cursor_advances(kit, org, db):
    shop, _, sweeper = kit()
    first = shop.order()
    assert (await sweeper.sweep_once()).created == [first]
    cursor = await sweeper.cursor()
    again = await sweeper.sweep_once()
    assert again.created == [] and await sweeper.cursor() == cursor
    assert again.since == cursor - timedelta(seconds=60)  # reads skew_s before the cursor
    assert len(await incidents(db, "sweep_found")) == 1

    await asyncio.sleep(0.01)
    second = shop.order()
    assert (await sweeper.sweep_once()).created == [second]
    assert await sweeper.cursor() == modstamp(org, second) > cursor
    assert await planned(db) == [first, second]


async def test_sweep_writes_back_an_order_cancelled_while_every_event_was_lost(kit, org, db):
    """Activated and cancelled while Revflow was down past retention: no plan, and no
    event left to say so; the sweep finds it and writes it back Cancelled, once."""
    shop, intake, sweeper = kit()
    oid = shop.order()
    shop.store.update("Order", oid, {"Status": "Cancelled"}, user_id=DEMO_USER_ID)
    result = await sweeper.sweep_once()
    assert result.created == [] and result.seen == 1
    assert await planned(db) == []
    async with db.read() as s:
        rows = (await s.scalars(select(WritebackItem).where(WritebackItem.record_id == oid))).all()
        noted = await s.scalars(select(AuditEntry).where(AuditEntry.action == NO_PLAN_CANCELLED))
        assert [a.order_id for a in noted] == [oid]
    assert [r.fields["Fulfillment_Status__c"] for r in rows] == ["Cancelled"]
    # the write-back touches SystemModstamp; a later sweep notes nothing twice
    shop.store.update("Order", oid, {"Description": "touched"}, user_id=DEMO_USER_ID)
    await sweeper.sweep_once()
    async with db.read() as s:
        count = await s.scalar(
            select(func.count()).select_from(WritebackItem).where(WritebackItem.record_id == oid)
        )
    assert count == 1


async def test_first_sweep_looks_back_lookback_s(kit, org, db):
    earliest = {"initial_replay": "earliest"}
    shop, _, sweeper = kit(reconcile={"lookback_s": 3600}, ingest=earliest)
    real = backdated(org, 2 * 3600)
    old = shop.order()
    org.events.clock = real
    assert (await sweeper.sweep_once()).created == []
    assert await sweeper.cursor() is None
    _, _, from_tip = kit(reconcile={"lookback_s": 3 * 3600})  # initial_replay: latest
    assert (await from_tip.sweep_once()).created == []  # a fresh install does not backfill
    _, _, longer = kit(reconcile={"lookback_s": 3 * 3600}, ingest=earliest)
    assert (await longer.sweep_once()).created == [old]


async def test_sweep_follows_on_through_full_pages_sharing_one_timestamp(kit, org, db):
    shop, _, sweeper = kit(page_size=2)
    ids = [shop.order(activate=False) for _ in range(5)]
    shop.activate(*ids)  # one transaction: one SystemModstamp for all five
    result = await sweeper.sweep_once()
    assert sorted(result.created) == sorted(ids) and result.seen == 5
    assert sorted(await planned(db)) == sorted(ids)


async def test_recent_orders_are_left_to_the_stream_while_they_settle(kit, org, db):
    shop, _, sweeper = kit(settle_s=None)  # default: skew_s (60 s)
    shop.order()
    assert (await sweeper.sweep_once()).created == []
    assert await sweeper.cursor() is None


async def test_polling_mode_is_the_intake(kit, org, db):
    shop, _, poller = kit(settle_s=None, ingest={"transport": "polling"})
    assert poller.settle_s == 0 and poller.interval_s == 0.05
    ids = [shop.order(), shop.order()]
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    for _ in range(100):
        if len(await planned(db)) == 2:
            break
        await asyncio.sleep(0.05)
    third = shop.order()
    for _ in range(100):
        if len(await planned(db)) == 3:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert await planned(db) == [*ids, third]
    assert await incidents(db, "sweep_found") == []  # polling is not the stream missing things


async def test_polling_against_a_field_the_org_lacks_is_one_slow_incident(kit, org, db):
    """Polling every 0.05 s, an org without a field the query reads opens one incident and
    stops polling at that pace; the first sweep that works resolves it."""
    shop, _, poller = kit(
        settle_s=None, ingest={"transport": "polling"}, salesforce={"incident_retry_s": 3600}
    )
    order_id = shop.order()
    org.missing_fields = {"Order.PoNumber"}
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    for _ in range(200):
        if await incidents(db, "salesforce_permanent"):
            break
        await asyncio.sleep(0.05)
    calls = org.usage.by_app["revflow"]
    await asyncio.sleep(1.0)  # 20 polls' time: none is made
    assert org.usage.by_app["revflow"] == calls
    [incident] = await incidents(db, "salesforce_permanent")
    assert (
        incident.key == "salesforce:reconcile:sweep" and incident.detail["code"] == "INVALID_FIELD"
    )
    stop.set()
    await asyncio.wait_for(task, 5)

    org.missing_fields.clear()
    _, _, again = kit(settle_s=None, ingest={"transport": "polling"})
    stop = asyncio.Event()
    task = asyncio.create_task(again.run(stop))
    for _ in range(200):
        if (await incidents(db, "salesforce_permanent"))[0].resolved_at is not None:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (await incidents(db, "salesforce_permanent"))[0].resolved_at is not None
    assert await planned(db) == [order_id]


async def test_disabled_sweep_does_not_run_unless_polling(kit):
    _, _, sweeper = kit(reconcile={"enabled": False})
    await asyncio.wait_for(sweeper.run(asyncio.Event()), 1)  # returns at once


async def test_reconcile_window_for_orders_and_items_leaves_the_cursor(kit, org, db):
    shop, _, sweeper = kit()
    real = backdated(org, 3600)
    old = shop.order()
    org.events.clock = real
    since = utcnow() - timedelta(minutes=5)
    recent = shop.order()
    result = await sweeper.reconcile_window("Order", since)
    assert result.created == [recent] and await sweeper.cursor() is None
    shop.item(old)  # an item changed recently: its (old, activated) order is re-read
    assert (await sweeper.reconcile_window("OrderItem", since)).created == [old]
    assert (await sweeper.reconcile_window("Quote", since)).created == []
    assert sorted(await planned(db)) == sorted([old, recent])
