"""Write-back end to end against the sandbox org over loopback: platform events published
by the outbox, and back over CometD."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from revflow.db.database import Database
from revflow.db.models import WritebackItem
from revflow.demo import DemoEnvironment
from revflow.orchestration.executor import ClaimedStep, StepExecutor
from revflow.salesforce import outbox
from revflow.salesforce.writeback import WritebackFlusher
from revflow.sandbox.org import SandboxOrg
from tests.e2e.writebackkit import STATUS, audits, client_for, enqueue, items
from tests.orgkit import Shop

# -- 3. creates: platform events --------------------------------------------------------


async def test_publish_event_auto_action_reaches_the_event_bus(
    db: Database, org: SandboxOrg
) -> None:
    oid = Shop(org).order()
    step = ClaimedStep(
        id=1,
        plan_id=1,
        key="notify",
        kind="auto",
        connector=None,
        action=None,
        attempt=1,
        idempotency_key="k",
        input={
            "auto": {
                "action": "publish_event",
                "event": "Order_Status__e",
                "fields": {"Order_Id__c": oid, "Status__c": "SHIPPED"},
            }
        },
        order_id=oid,
        correlation_id=f"rf-{oid}",
        definition="d",
    )
    result = await StepExecutor({}).run(step)
    async with db.write() as s:  # what the worker does with a step's writes
        for w in result.writes:
            outbox.enqueue(s, w.sobject, w.record_id, w.fields, step.correlation_id)
        outbox.enqueue(s, "Order_Status__e", oid, {"Order_Id__c": oid, "Status__c": "DONE"})
        outbox.enqueue(s, "Order", oid, {STATUS: "In Progress"})
        outbox.enqueue(s, "Order", oid, {STATUS: "Completed"})
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    assert await flusher.flush_once() == 3  # one coalesced update, two events
    assert flusher.calls == 2  # one update call, one create call
    events = org.events.all_events(["/event/Order_Status__e"])
    assert [e.payload["Status__c"] for e in events] == ["SHIPPED", "DONE"]
    assert all(e.payload["Order_Id__c"] == oid for e in events)
    assert {i.operation for i in await items(db)} == {"create", "update"}
    assert {i.state for i in await items(db)} == {"sent"}
    assert org.records["Order"][oid][STATUS] == "Completed"
    await client.aclose()


async def test_event_with_a_too_long_error_message_fails_as_data(
    db: Database, org: SandboxOrg
) -> None:
    oid = Shop(org).order()
    await enqueue(db, "Order_Status__e", oid, {"Order_Id__c": oid, "Error_Message__c": "e" * 256})
    client = client_for(org)
    await WritebackFlusher(db, client).flush_once()
    (item,) = await items(db)
    assert item.state == "failed" and (item.error or "").startswith("STRING_TOO_LONG")
    (entry,) = await audits(db, "writeback.failed")
    assert entry.detail["classification"] == "data" and entry.detail["operation"] == "create"
    assert org.events.all_events(["/event/Order_Status__e"]) == []
    await client.aclose()


ANNOUNCE_PLAN = """
name: announce
version: 1
source: Order
groups:
  main:
    scope: order
    steps:
      - key: validate
        type: validate
      - key: create_sales_order
        type: callout
        depends_on: [validate]
        connector: erp
        action: sales_order.create
        mapping: order_to_sales_order
        writes_erp_number: true
      - key: announce
        type: auto
        depends_on: [create_sales_order]
        action: publish_event
        event: Order_Status__e
        fields: { Order_Id__c: "{Id}", Status__c: Announced }
      - key: hear_announcement
        type: wait
        depends_on: [announce]
        signal: event
        channel: /event/Order_Status__e
        correlation_key: "{Id}"
        timeout: PT10M
scenarios:
  new: [main]
"""


async def test_published_event_comes_back_over_cometd_and_completes_the_plan(
    tmp_path: Any,
) -> None:
    """publish_event → outbox → Collections create → the org's bus → CometD → Revflow's
    inbox → the signal the plan's wait step matches: the whole loop over loopback."""
    plan_file = tmp_path / "announce.yaml"
    plan_file.write_text(ANNOUNCE_PLAN)
    overrides = {
        "plan_file": str(plan_file),
        "ingest": {"channels": ["/data/OrderChangeEvent", "/event/Order_Status__e"]},
    }
    async with DemoEnvironment(seed=3, settings_overrides=overrides) as env:
        ids = await env.create_orders(3)
        await env.activate(ids)
        assert await env.wait_until_done(ids, timeout_s=120, final=("Completed",))
        events = env.org.events.all_events(["/event/Order_Status__e"])
        assert sorted(e.payload["Order_Id__c"] for e in events) == sorted(ids)
        assert {e.payload["Status__c"] for e in events} == {"Announced"}
        assert env.revflow is not None
        async with env.revflow.db.read() as s:
            sent = (
                await s.scalars(
                    select(WritebackItem).where(WritebackItem.sobject == "Order_Status__e")
                )
            ).all()
        assert {(i.operation, i.state) for i in sent} == {("create", "sent")}
