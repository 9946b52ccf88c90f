"""Intake against a real database and the sandbox org on loopback: transactions, echoes,
batch delay."""

from __future__ import annotations

from prometheus_client import REGISTRY

from revflow.db.models import EventStatus, ReceivedEvent
from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID
from tests.orchestration.intakekit import tip
from tests.orgkit import (
    ORDER_CHANNEL,
    Shop,
    feed,
    inbox,
    make_intake,
    org_events,
    planned,
    settings_for,
    sf_client,
)


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
