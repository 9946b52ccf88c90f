"""Write-back end to end against the sandbox org over loopback: per-record errors on the
plan, retries, limits and expired sessions."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from revflow.db.database import Database
from revflow.db.models import WritebackItem
from revflow.salesforce.writeback import WritebackFlusher
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.validation import ValidationRule
from tests.e2e.writebackkit import STATUS, audits, client_for, enqueue, items, plan_of
from tests.orgkit import Shop
from tests.plankit import insert_plan

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
