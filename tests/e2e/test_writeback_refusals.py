"""Write-backs the org refuses reach the user, end to end against the sandbox org over
loopback: the org's validation rule refuses a status, Revflow writes the refusal into
the Order's error field on its own; if even that is refused, an incident."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.models import Incident, Plan, PlanState
from revflow.demo import DemoEnvironment, run_demo
from revflow.orchestration.status import write_plan_state
from revflow.salesforce import outbox
from revflow.salesforce.refusals import INCIDENT_KIND, PREFIX
from revflow.salesforce.writeback import WritebackFlusher
from revflow.sandbox.org import SandboxOrg
from revflow.sandbox.validation import CODE, ValidationRule
from tests.e2e.test_writeback_salesforce import audits, client_for, items, plan_of
from tests.orgkit import Shop, incidents
from tests.plankit import insert_plan

pytestmark = pytest.mark.e2e

STATUS, ERROR, ERP = "Fulfillment_Status__c", "Fulfillment_Error__c", "ERP_Order_Number__c"
RULE = "Completion needs a signed delivery note"


def refusals(outcome: str) -> float:
    value = REGISTRY.get_sample_value("revflow_writeback_refusals_total", {"outcome": outcome})
    return value or 0.0


async def complete(db: Database, order_id: str, plan_id: int) -> None:
    """What the worker writes when a plan completes: the ERP number, then the status
    (and a cleared error); the flusher coalesces them into one record update."""
    async with db.write() as s:
        await s.execute(update(Plan).where(Plan.id == plan_id).values(state=PlanState.COMPLETED))
        outbox.enqueue(s, "Order", order_id, {ERP: "SO-000042"}, f"rf-{order_id}")
        write_plan_state(s, WritebackSettings(), order_id, "completed", f"rf-{order_id}")


async def test_refused_status_is_shown_in_the_error_field_and_the_plan_keeps_its_outcome(
    db: Database, org: SandboxOrg
) -> None:
    shop = Shop(org)
    held, free = shop.order(), shop.order()
    plan_id = await insert_plan(db, [{"key": "s", "kind": "milestone"}], order_id=held)
    org.faults.validation_rules = [
        ValidationRule(STATUS, "Completed", records=[held], message=RULE)
    ]
    await complete(db, held, plan_id)
    await complete(db, free, await insert_plan(db, [{"key": "s"}], order_id=free))
    before = (refusals("refused"), refusals("shown"))
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    assert await flusher.flush_once() == 1  # the free order; the held one refused
    assert org.records["Order"][free][STATUS] == "Completed"
    assert org.records["Order"][held][STATUS] is None and org.records["Order"][held][ERROR] is None
    assert await flusher.flush_once() == 1  # the notice, on its own
    assert flusher.calls == 2
    record = org.records["Order"][held]
    assert record[STATUS] is None  # the rule still holds the status back
    text = record[ERROR]
    assert text.startswith(f"{PREFIX} {STATUS} = 'Completed'")
    assert f"{ERP} = 'SO-000042'" in text  # what else the refused update carried
    assert f"{CODE}: {RULE}" in text  # Salesforce's own words
    # not retried blindly: nothing more goes out
    assert await flusher.flush_once() == 0 and flusher.calls == 2
    plan = await plan_of(db, plan_id)
    assert plan.state == PlanState.COMPLETED  # the plan keeps its outcome
    assert plan.error and RULE in plan.error
    actions = [a.action for a in await audits(db) if a.order_id == held]
    assert actions == [
        "writeback.failed",
        "writeback.refusal_notice_queued",
        "writeback.refusal_shown",
    ]
    assert (refusals("refused"), refusals("shown")) == (before[0] + 1, before[1] + 1)
    assert await incidents(db, INCIDENT_KIND) == []
    by_operation = {(i.record_id, i.operation): i.state for i in await items(db)}
    assert by_operation[(held, "update")] == "failed"
    assert by_operation[(held, "notice")] == "sent"
    await client.aclose()


async def test_a_refused_notice_is_an_incident(
    db: Database, org: SandboxOrg, caplog: pytest.LogCaptureFixture
) -> None:
    shop = Shop(org)
    oid = shop.order()
    plan_id = await insert_plan(db, [{"key": "s"}], order_id=oid)
    # field-level security: the integration user may not edit the Order at all
    org.faults.record_errors = {oid: "INVALID_FIELD_FOR_INSERT_UPDATE"}
    await complete(db, oid, plan_id)
    before = refusals("unshown")
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    with caplog.at_level(logging.ERROR, logger="revflow.writeback"):
        await flusher.flush_once()
        await flusher.flush_once()
        await flusher.flush_once()
    assert flusher.calls == 2  # the update, the notice; then nothing
    (incident,) = await incidents(db, INCIDENT_KIND)
    assert incident.detail["order_id"] == oid
    assert incident.detail["error"].startswith("INVALID_FIELD_FOR_INSERT_UPDATE")
    assert PREFIX in incident.detail["notice"][ERROR]
    assert refusals("unshown") == before + 1
    (line,) = [r for r in caplog.records if "shows neither" in r.getMessage()]
    assert line.levelno == logging.ERROR and getattr(line, "order_id", None) == oid
    assert {(i.operation, i.state) for i in await items(db)} == {
        ("update", "failed"),
        ("notice", "failed"),
    }
    # blocking: /readyz names it until a notice gets through again
    assert incident.blocking and incident.open_key is not None
    org.faults.record_errors = {}
    other = shop.order()
    org.faults.validation_rules = [ValidationRule(STATUS, "Completed", records=[other])]
    await complete(db, other, await insert_plan(db, [{"key": "s"}], order_id=other))
    await flusher.flush_once()  # refused by the rule
    await flusher.flush_once()  # the notice is shown: the error field is writable again
    assert org.records["Order"][other][ERROR].startswith(PREFIX)
    (incident,) = await incidents(db, INCIDENT_KIND)
    assert incident.open_key is None and incident.resolved_at is not None
    await client.aclose()


async def test_updates_of_other_objects_get_no_notice(db: Database, org: SandboxOrg) -> None:
    shop = Shop(org)
    oid = shop.order()
    account = org.records["Order"][oid]["AccountId"]
    org.faults.validation_rules = [ValidationRule("Description", sobject="Account")]
    async with db.write() as s:
        outbox.enqueue(s, "Account", account, {"Description": "x"}, "rf-a")
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    await flusher.flush_once()
    await flusher.flush_once()
    assert flusher.calls == 1  # the error field is an Order field: no notice elsewhere
    assert [i.operation for i in await items(db)] == ["update"]
    await client.aclose()


async def test_pipeline_rule_refusing_completed_ends_with_the_refusal_on_the_order(
    database_url: str,
) -> None:
    async with DemoEnvironment(database_url=database_url, seed=5) as env:
        ids = await env.create_orders(6)
        held, rest = ids[:2], ids[2:]
        env.refuse_completion(held)
        await env.activate(ids)
        assert await env.wait_until_done(rest, timeout_s=60, final=("Completed",))
        assert await env.wait_for(held, env.refusal_shown, timeout_s=60), [
            (env.order_status(o), env.order_error(o)) for o in held
        ]
        for oid in held:
            assert "credit review" in (env.order_error(oid) or "")  # the rule's message
        documents = env.erp.stats()["documents"]
        assert env.erp.stats()["duplicate_documents"] == []
        for oid in ids:  # the ERP did its work once for every order, held or not
            assert documents["sales_order"][oid] == documents["invoice"][oid] == 1
        assert env.org.faults_injected["writeback_refused"] >= 2
    db = Database(database_url)
    async with db.read() as s:
        states = dict((await s.execute(select(Plan.order_id, Plan.state))).all())
        open_incidents = await s.scalar(select(func.count()).select_from(Incident))
    await db.dispose()
    assert {states[o] for o in ids} == {PlanState.COMPLETED}
    assert open_incidents == 0


async def test_demo_chaos_counts_orders_whose_completion_the_org_refused() -> None:
    summary = await run_demo(10, timeout_s=120, chaos=True, seed=4)
    assert summary.writeback_refused == 1  # a tenth, at least one
    assert summary.completed == 9 and summary.duplicate_deliveries == 0
    assert summary.faults_injected["writeback_refused"] >= 1


async def test_a_newer_update_supersedes_a_pending_notice(db: Database, org: SandboxOrg) -> None:
    shop = Shop(org)
    oid = shop.order()
    plan_id = await insert_plan(db, [{"key": "s"}], order_id=oid)
    org.faults.validation_rules = [ValidationRule(STATUS, "Completed", records=[oid])]
    await complete(db, oid, plan_id)
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    await flusher.flush_once()  # refused; the notice is queued
    org.faults.validation_rules = []  # the admin lifts the rule at once
    async with db.write() as s:  # and the Order changes again before the notice went out
        write_plan_state(s, WritebackSettings(), oid, "completed", f"rf-{oid}")
    await flusher.flush_once()
    await flusher.flush_once()
    record = org.records["Order"][oid]
    # the stale notice did not overwrite the newer, successful update
    assert record[STATUS] == "Completed" and record[ERROR] is None
    assert record[ERP] == "SO-000042"  # the refused values went out under the newer ones
    notice = next(i for i in await items(db) if i.operation == "notice")
    assert notice.state == "dropped" and "superseded" in (notice.error or "")
    assert flusher.calls == 2
    await client.aclose()


async def test_a_field_error_on_the_status_is_shown_too(db: Database, org: SandboxOrg) -> None:
    shop = Shop(org)
    oid = shop.order()
    too_long = "Waiting for " + "x" * 300  # the status field holds 255 characters
    async with db.write() as s:
        outbox.enqueue(s, "Order", oid, {STATUS: too_long, ERROR: None}, f"rf-{oid}")
    client = client_for(org)
    flusher = WritebackFlusher(db, client)
    await flusher.flush_once()
    await flusher.flush_once()
    text = org.records["Order"][oid][ERROR]
    assert text.startswith(f"{PREFIX} {STATUS} = 'Waiting for xxx")
    assert ": STRING_TOO_LONG: " in text and f"(fields: {STATUS})" in text
    await client.aclose()
