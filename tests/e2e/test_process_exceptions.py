"""Write-back end to end against the sandbox org over loopback: ProcessException records
for fallout."""

from __future__ import annotations

from typing import Any

from revflow.config import WritebackSettings
from revflow.connectors.errors import FatalError
from revflow.db.database import Database
from revflow.orchestration.status import write_plan_state
from revflow.salesforce.writeback import WritebackFlusher
from revflow.sandbox.org import SandboxOrg
from tests.e2e.writebackkit import STATUS, client_for, items, plan_of
from tests.orgkit import Shop
from tests.plankit import insert_plan, make_worker


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
