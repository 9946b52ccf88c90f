"""Write-back end to end against the sandbox org over loopback: per-record errors on the
plan, the API budget, platform events, ProcessException records."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from revflow.api.app import create_app
from revflow.config import AuthFlow, SalesforceSettings, WritebackSettings
from revflow.connectors.errors import FatalError
from revflow.db.database import Database
from revflow.db.models import AuditEntry, Plan, SalesforceApiUsage, WritebackItem
from revflow.demo import DemoEnvironment
from revflow.ingest.reconcile import Reconciler
from revflow.orchestration.executor import ClaimedStep, StepExecutor
from revflow.orchestration.status import write_plan_state
from revflow.salesforce import outbox
from revflow.salesforce.auth import TokenProvider
from revflow.salesforce.budget import ApiBudget, BudgetExhausted
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.lookups import LookupCache
from revflow.salesforce.writeback import WritebackFlusher
from revflow.sandbox.org import ConnectedApp, SandboxOrg
from revflow.sandbox.validation import ValidationRule
from revflow.security.identity import Role
from tests import securitykit
from tests.orgkit import Shop, make_intake, settings_for
from tests.plankit import insert_plan, make_worker

STATUS = "Fulfillment_Status__c"


def sf_settings(org: SandboxOrg, share: float = 0.5) -> SalesforceSettings:
    if "ck" not in org.apps:
        org.add_app(ConnectedApp(name="revflow", consumer_key="ck", consumer_secret="s3cret"))
    return SalesforceSettings(
        instance_url=org.instance_url,
        auth=AuthFlow.CLIENT_CREDENTIALS,
        client_id="ck",
        client_secret=SecretStr("s3cret"),
        api_budget_share=share,
    )


def client_for(org: SandboxOrg, share: float = 0.5) -> SalesforceClient:
    return SalesforceClient(
        TokenProvider(sf_settings(org, share)), "62.0", "revflow", budget=ApiBudget(share)
    )


async def enqueue(db: Database, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
    async with db.write() as s:
        outbox.enqueue(s, sobject, record_id, fields, f"rf-{record_id}")


async def items(db: Database) -> list[WritebackItem]:
    async with db.read() as s:
        return list((await s.scalars(select(WritebackItem).order_by(WritebackItem.id))).all())


async def audits(db: Database, action: str | None = None) -> list[AuditEntry]:
    async with db.read() as s:
        q = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            q = q.where(AuditEntry.action == action)
        return list((await s.scalars(q)).all())


async def plan_of(db: Database, plan_id: int) -> Plan:
    async with db.read() as s:
        return (await s.scalars(select(Plan).where(Plan.id == plan_id))).one()


# -- 1. per-record outcomes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "data"),
        ("STRING_TOO_LONG", "data"),
        ("REQUIRED_FIELD_MISSING", "data"),
        ("INVALID_FIELD", "configuration"),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "configuration"),
    ],
)
async def test_injected_record_error_fails_the_item_and_records_it_on_the_plan(
    db: Database, org: SandboxOrg, code: str, kind: str
) -> None:
    shop = Shop(org)
    bad, good = shop.order(), shop.order()
    plan_id = await insert_plan(db, [{"key": "s", "kind": "milestone"}], order_id=bad)
    org.faults.record_errors = {bad: code}
    await enqueue(db, "Order", bad, {STATUS: "In Progress"})
    await enqueue(db, "Order", good, {STATUS: "In Progress"})
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    assert await flusher.flush_once() == 1
    assert flusher.calls == 1  # both records in one Collections call
    assert org.records["Order"][good][STATUS] == "In Progress"
    assert org.records["Order"][bad][STATUS] is None
    failed = [i for i in await items(db) if i.record_id == bad and i.operation == "update"]
    assert [i.state for i in failed] == ["failed"]
    assert (failed[0].error or "").startswith(code)
    plan = await plan_of(db, plan_id)
    assert plan.error and f"write-back {kind} error" in plan.error and code in plan.error
    (entry,) = await audits(db, "writeback.failed")
    assert entry.plan_id == plan_id and entry.order_id == bad
    assert entry.detail["classification"] == kind and entry.detail["code"] == code
    await client.aclose()


async def test_natural_schema_errors_are_classified(db: Database, org: SandboxOrg) -> None:
    shop = Shop(org)
    too_long, bad_field = shop.order(), shop.order()
    await enqueue(db, "Order", too_long, {STATUS: "x" * 300})  # Text(255)
    await enqueue(db, "Order", bad_field, {"No_Such_Field__c": "x"})
    client = client_for(org)
    await WritebackFlusher(db, client).flush_once()
    by_order = {e.order_id: e.detail for e in await audits(db, "writeback.failed")}
    assert by_order[too_long]["code"] == "STRING_TOO_LONG"
    assert by_order[too_long]["classification"] == "data"
    assert by_order[bad_field]["code"] == "INVALID_FIELD"
    assert by_order[bad_field]["classification"] == "configuration"
    await client.aclose()


async def test_failed_update_is_not_retried_until_a_newer_value_comes(
    db: Database, org: SandboxOrg
) -> None:
    shop = Shop(org)
    oid = shop.order()
    org.faults.validation_rules = [ValidationRule(STATUS, "In Progress", records=[oid])]
    await enqueue(db, "Order", oid, {STATUS: "In Progress", "ERP_Order_Number__c": "SO-1"})
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    await flusher.flush_once()
    await flusher.flush_once()  # the refusal notice, on its own
    await flusher.flush_once()
    assert flusher.calls == 2  # the refused values were not retried blindly
    assert "In Progress" in org.records["Order"][oid]["Fulfillment_Error__c"]
    org.faults.validation_rules = []  # the admin lifted the rule
    await flusher.flush_once()
    assert flusher.calls == 2  # still nothing new to send
    await enqueue(db, "Order", oid, {STATUS: "Completed"})
    assert await flusher.flush_once() == 1
    assert flusher.calls == 3
    record = org.records["Order"][oid]
    # the failed value went out under the newer one: nothing lost, newest wins
    assert record[STATUS] == "Completed" and record["ERP_Order_Number__c"] == "SO-1"
    assert {i.state for i in await items(db)} == {"sent"}
    await client.aclose()


async def test_lock_row_retries_deleted_drops_session_expiry_reauthenticates(
    db: Database, org: SandboxOrg
) -> None:
    shop = Shop(org)
    locked, deleted = shop.order(), shop.order()
    shop.store.delete("Order", deleted)
    org.faults.record_errors = {locked: "UNABLE_TO_LOCK_ROW"}
    await enqueue(db, "Order", locked, {STATUS: "In Progress"})
    await enqueue(db, "Order", deleted, {STATUS: "In Progress"})
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    await flusher.flush_once()
    by_order = {i.record_id: i for i in await items(db)}
    assert by_order[locked].state == "pending" and by_order[locked].attempts == 1
    assert by_order[deleted].state == "dropped"
    assert "ENTITY_IS_DELETED" in (by_order[deleted].error or "")
    # the lock clears; the session expires meanwhile: one re-authentication, then sent
    org.faults.record_errors = {}
    org.revoke_all()
    async with db.write() as s:
        await s.execute(update(WritebackItem).values(due_at=WritebackItem.created_at))
    assert await flusher.flush_once() == 1
    assert client.tokens.fetches == 2
    assert org.records["Order"][locked][STATUS] == "In Progress"
    await client.aclose()


async def test_request_limit_exceeded_pauses_and_loses_nothing(
    db: Database, org: SandboxOrg
) -> None:
    oid = Shop(org).order()
    await enqueue(db, "Order", oid, {STATUS: "In Progress"})
    org.faults.request_limit_exceeded = True
    client = client_for(org)
    flusher = WritebackFlusher(db, client, pause_s=60)
    assert await flusher.flush_once() == 0
    assert flusher.paused_until is not None
    assert [i.state for i in await items(db)] == ["pending"]
    assert await audits(db, "writeback.paused")
    org.faults.request_limit_exceeded = False
    flusher.paused_until = None  # the pause is over
    async with db.write() as s:
        await s.execute(update(WritebackItem).values(due_at=WritebackItem.created_at))
    assert await flusher.flush_once() == 1
    assert org.records["Order"][oid][STATUS] == "In Progress"
    await client.aclose()


# -- 2. the API budget -------------------------------------------------------------


async def test_budget_pauses_write_back_and_lookups_then_resumes(
    db: Database, org: SandboxOrg
) -> None:
    oid = Shop(org).order()
    org.usage.daily_limit = 20  # Revflow's budget: 0.5 × 20 = 10 calls
    org.usage.used = 7  # other integrations' calls count in N, not in Revflow's use
    client = client_for(org)
    for _ in range(10):
        await client.query("SELECT Id FROM Account")
    assert client.budget.org_limit == 20 and client.budget.org_used == 17
    assert client.budget.calls == 10 and client.budget.budget == 10
    await enqueue(db, "Order", oid, {STATUS: "In Progress"})
    flusher = WritebackFlusher(db, client)
    assert await flusher.flush_once() == 0
    assert flusher.calls == 0 and [i.state for i in await items(db)] == ["pending"]
    (alert,) = await audits(db, "salesforce.budget_exhausted")
    assert alert.detail["calls"] == 10 and alert.detail["budget"] == 10
    await flusher.flush_once()
    assert len(await audits(db, "salesforce.budget_exhausted")) == 1  # alerted once
    with pytest.raises(BudgetExhausted):
        await LookupCache(client)._query("Account", "Name", ("Id",), ["Acme"])

    # persisted: a restarted process (a fresh budget) knows the day's use
    fresh = ApiBudget(0.5)
    await fresh.sync(db, force=True)
    assert fresh.calls == 10 and fresh.org_limit == 20 and not fresh.allows()

    # the calls roll out of the 24-hour window: work resumes, nothing was lost
    async with db.write() as s:
        await s.execute(
            update(SalesforceApiUsage).values(hour=SalesforceApiUsage.hour - timedelta(hours=25))
        )
    client.budget.sync_interval_s = 0.0
    assert await flusher.flush_once() == 1
    assert org.records["Order"][oid][STATUS] == "In Progress"
    assert await audits(db, "salesforce.budget_resumed")
    await client.aclose()


async def test_usage_endpoint_and_gauge_report_revflow_vs_org(
    db: Database, org: SandboxOrg
) -> None:
    org.usage.daily_limit = 1000
    org.usage.used = 100
    client = client_for(org, share=0.25)
    for _ in range(4):
        await client.query("SELECT Id FROM Account")
    await client.budget.sync(db, force=True)
    api = create_app(db, salesforce=sf_settings(org, share=0.25))
    async with securitykit.client(api, db, Role.VIEWER, base_url="http://revflow") as http:
        usage = (await http.get("/api/salesforce/usage")).json()
        metrics = (await http.get("/metrics")).text
    assert usage["revflow_calls_24h"] == 4 and usage["revflow_calls_today"] == 4
    assert usage["org_used"] == 104 and usage["org_limit"] == 1000
    assert usage["share"] == 0.25 and usage["budget"] == 250 and usage["paused"] is False
    assert "revflow_salesforce_api_revflow_calls 4.0" in metrics
    assert "revflow_salesforce_api_used 104.0" in metrics
    assert "revflow_salesforce_api_budget 250.0" in metrics
    await client.aclose()


# -- 3/4/5. creates: platform events and ProcessException ---------------------------


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


async def test_fallout_creates_a_process_exception_when_enabled(
    db: Database, org: SandboxOrg
) -> None:
    oid = Shop(org).order()
    writeback = WritebackSettings(process_exceptions=True)
    plan_id = await insert_plan(
        db, [{"key": "create_sales_order", "kind": "callout", "action": "so.create"}], oid
    )

    def erp(action: str, payload: Any, ctx: Any) -> Any:
        raise FatalError("customer 42 is blocked " + "x" * 300, status_code=422)

    worker = make_worker(db, erp, writeback=writeback)
    await worker.run_until_idle()
    assert (await plan_of(db, plan_id)).state == "on_hold"
    client = client_for(org)
    await WritebackFlusher(db, client).flush_once()
    (pe,) = org.records["ProcessException"].values()
    assert pe["AttachedToId"] == oid and pe["Status"] == "New"
    assert pe["Category"] == "Fulfillment" and pe["Severity"] == "High"
    assert pe["ExternalReference"] == f"plan/{plan_id}/step/create_sales_order"
    assert len(pe["Message"]) <= 255 and "customer 42 is blocked" in pe["Message"]
    assert pe["Description"].startswith("create_sales_order: customer 42 is blocked")
    assert pe["Description"].endswith("x" * 300)  # the full text
    assert org.records["Order"][oid][STATUS] == "On Hold"
    await client.aclose()


async def test_process_exceptions_are_off_by_default(db: Database) -> None:
    async with db.write() as s:
        write_plan_state(s, WritebackSettings(), "8015e00000Q7mNpAAJ", "on_hold", "rf", "a: b")
    assert [i.sobject for i in await items(db)] == ["Order"]


async def test_process_exceptions_batch_into_one_create_call(db: Database, org: SandboxOrg) -> None:
    shop = Shop(org)
    orders = [shop.order() for _ in range(3)]
    writeback = WritebackSettings(process_exceptions=True)
    async with db.write() as s:
        for oid in orders:
            write_plan_state(s, writeback, oid, "on_hold", f"rf-{oid}", "validate: bad data")
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    assert await flusher.flush_once() == 6
    assert flusher.calls == 2  # 3 Order updates in one call, 3 creates in another
    created = org.records["ProcessException"].values()
    assert sorted(p["AttachedToId"] for p in created) == sorted(orders)
    assert all(p["ExternalReference"] == f"rf-{p['AttachedToId']}/step/validate" for p in created)
    await client.aclose()


async def test_process_exception_is_in_the_org_describe(org: SandboxOrg) -> None:
    client = client_for(org)
    body = await client.request("GET", "sobjects/ProcessException/describe")
    names = {f["name"]: f for f in body["fields"]}
    assert {"AttachedToId", "Category", "Severity", "Priority", "Message", "Description"} <= set(
        names
    )
    assert names["Message"]["length"] == 255 and names["ExternalReference"]["type"] == "string"
    event = await client.request("GET", "sobjects/Order_Status__e/describe")
    error = next(f for f in event["fields"] if f["name"] == "Error_Message__c")
    assert error["type"] == "string" and error["length"] == 255
    await client.aclose()


async def test_budget_pauses_the_reconcile_sweep(db: Database, org: SandboxOrg) -> None:
    settings = settings_for(org, "sqlite://", reconcile={"interval_s": 0.05})
    org.usage.daily_limit = 4  # budget 2
    client = client_for(org)
    for _ in range(2):
        await client.query("SELECT Id FROM Account")
    made = client.usage.calls_made
    reconciler = Reconciler(db, client, settings, make_intake(db, client, settings))
    stop = asyncio.Event()
    task = asyncio.create_task(reconciler.run(stop))
    for _ in range(200):
        if await audits(db, "salesforce.budget_exhausted"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    (alert,) = await audits(db, "salesforce.budget_exhausted")
    assert alert.detail["work"] == "reconcile"
    assert client.usage.calls_made == made  # no sweep query was made
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
