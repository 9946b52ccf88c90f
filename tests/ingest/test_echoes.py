"""Echoes of Revflow's own write-backs are stored already skipped by the consumer, by
the intake's own rule: the intake never reads them, and nothing else is skipped."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from revflow.db.models import EventStatus
from revflow.ingest.consumer import EventConsumer
from revflow.ingest.events import IncomingEvent, echo_on_arrival, echo_reason
from revflow.sandbox.org import DEMO_USER_ID, INTEGRATION_USER_ID, SandboxOrg
from tests.orgkit import (
    ORDER_CHANNEL,
    Shop,
    feed,
    header_event,
    inbox,
    make_intake,
    org_events,
    settings_for,
    sf_client,
)

REVFLOW_ORIGIN = "com/salesforce/api/rest/62.0;client=revflow"


def message(event: IncomingEvent) -> dict[str, Any]:
    """The event as the CometD stream delivers it."""
    return {
        "channel": event.channel,
        "data": {"payload": event.payload, "event": {"replayId": int(event.replay_id)}},
    }


def tip(org: SandboxOrg) -> int:
    events = org.events.all_events()
    return events[-1].replay_id if events else 0


def skipped_metric(reason: str) -> float:
    return REGISTRY.get_sample_value("revflow_events_skipped_total", {"reason": reason}) or 0.0


def test_a_gap_by_the_integration_user_is_never_an_echo_on_arrival() -> None:
    gap = header_event("GAP_UPDATE", "Order", ["801x"], commitUser=INTEGRATION_USER_ID)
    assert echo_reason(gap, "revflow", INTEGRATION_USER_ID) == "echo_user"  # the bare rule
    assert echo_on_arrival(gap, "revflow", INTEGRATION_USER_ID) is None


async def test_consumer_stores_echoes_skipped_and_wakes_the_intake_only_for_the_rest(
    org, db, database_url
):
    shop = Shop(org)
    oid = shop.order(activate=False)
    store = shop.store
    before = tip(org)
    store.update(
        "Order",
        oid,
        {"Fulfillment_Status__c": "In Progress"},
        user_id=DEMO_USER_ID,
        origin=REVFLOW_ORIGIN,
    )
    store.update("Order", oid, {"Description": "by Revflow's user"}, user_id=INTEGRATION_USER_ID)
    store.update("Order", oid, {"Fulfillment_Error__c": "boom"}, user_id=DEMO_USER_ID)
    echoes = [e for e in org_events(org, after=before) if e.channel == ORDER_CHANNEL]
    before = tip(org)
    shop.activate(oid)
    store.update("Order", oid, {"Description": "a user's edit"}, user_id=DEMO_USER_ID)
    others = [e for e in org_events(org, after=before) if e.channel == ORDER_CHANNEL]
    gap = header_event(
        "GAP_UPDATE", "Order", [oid], commitUser=INTEGRATION_USER_ID, replay_id=10_000
    )
    assert (len(echoes), len(others)) == (3, 2)

    settings = settings_for(
        org,
        database_url,
        salesforce={"integration_user_id": INTEGRATION_USER_ID},
        ingest={"channels": [ORDER_CHANNEL]},
    )
    woken: list[int] = []
    consumer = EventConsumer(db, None, settings, on_event=lambda: woken.append(1))  # type: ignore[arg-type]
    reasons = ("echo_client", "echo_user", "echo_fields")
    metric_before = {r: skipped_metric(r) for r in reasons}

    await consumer.handle_batch([message(e) for e in echoes], fenced=False)
    assert woken == []  # echoes alone do not wake the intake
    assert {r: skipped_metric(r) - metric_before[r] for r in reasons} == dict.fromkeys(reasons, 1)
    rows = await inbox(db)
    assert [r.status for r in rows] == [EventStatus.SKIPPED] * 3
    assert [r.note for r in rows] == [f"echo of Revflow's own write ({r})" for r in reasons]
    assert all(r.processed_at is not None for r in rows)
    assert consumer.received == 3  # stored, not dropped

    await consumer.handle_batch([message(e) for e in [*others, gap]], fenced=False)
    assert woken == [1]
    rows = await inbox(db)
    assert [r.status for r in rows[3:]] == [EventStatus.RECEIVED] * 3

    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    assert await intake.process_batch() == 3  # the echoes are not read again
    assert "echo_client" not in intake.skipped and "echo_user" not in intake.skipped
    rows = await inbox(db)
    assert all(r.status != EventStatus.RECEIVED for r in rows)
    await client.aclose()


async def test_echo_by_fields_switched_off_is_left_to_the_intake(org, db, database_url):
    shop = Shop(org)
    oid = shop.order()
    before = tip(org)
    shop.store.update("Order", oid, {"Fulfillment_Error__c": "boom"}, user_id=DEMO_USER_ID)
    events = [e for e in org_events(org, after=before) if e.channel == ORDER_CHANNEL]
    settings = settings_for(
        org, database_url, ingest={"echo_by_fields": False, "channels": [ORDER_CHANNEL]}
    )
    woken: list[int] = []
    consumer = EventConsumer(db, None, settings, on_event=lambda: woken.append(1))  # type: ignore[arg-type]
    await consumer.handle_batch([message(e) for e in events], fenced=False)
    assert woken == [1]
    assert [r.status for r in await inbox(db)] == [EventStatus.RECEIVED]


async def test_creates_of_orders_and_lines_are_stored_skipped_as_the_intake_would(
    org, db, database_url
):
    shop = Shop(org)
    before = tip(org)
    shop.order(activate=False)  # the Order and its lines created: nothing to do yet
    created = org_events(org, after=before)
    assert {(e.entity, e.change_type) for e in created} == {
        ("Order", "CREATE"),
        ("OrderItem", "CREATE"),
    }
    before = tip(org)
    shop.order(activate=False)  # the same, left to the intake
    by_intake = org_events(org, after=before)

    settings = settings_for(org, database_url)
    woken: list[int] = []
    consumer = EventConsumer(db, None, settings, on_event=lambda: woken.append(1))  # type: ignore[arg-type]
    await consumer.handle_batch([message(e) for e in created], fenced=False)
    assert woken == []
    rows = await inbox(db)
    assert [(r.status, r.note) for r in rows] == [(EventStatus.SKIPPED, "no trigger")] * len(
        created
    )
    await feed(db, by_intake)
    client = sf_client(settings)
    intake = make_intake(db, client, settings)
    assert await intake.process_batch() == len(by_intake)
    assert intake.skipped == {"no_trigger": len(by_intake)}
    rows = (await inbox(db))[len(created) :]
    assert [(r.status, r.note) for r in rows] == [(EventStatus.SKIPPED, "no trigger")] * len(
        by_intake
    )
    await client.aclose()
