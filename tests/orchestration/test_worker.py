"""The worker against a real database (SQLite file, or PostgreSQL in CI)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult, FakeConnector
from revflow.connectors.errors import FatalError, RateLimitedError, RetryableError
from revflow.db.models import AuditEntry, ConnectorAttempt, Plan, Step, WritebackItem
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.plans import create_plan
from revflow.orchestration.worker import Worker
from revflow.plans.decompose import decompose
from revflow.plans.definitions import order_fulfillment
from revflow.plans.retry import RetryPolicy

ORDER = {"Id": "8015e00000Q7mNpAAJ", "OrderItems": []}
FAST = RetryPolicy(initial_interval_s=0.0, jitter=0, maximum_attempts=3)


class Doc:
    content_hash = "h"

    def apply(self, record):
        return {"external_id": record["Id"]}


class Broken:
    content_hash = "b"

    def apply(self, record):
        raise ValueError(f"mappings/x.yaml:3: field 'total' failed (record {record['Id']})")


async def make_plan(db, mappings=None):
    definition = order_fulfillment(retry=FAST)
    mappings = mappings or {"order_to_sales_order": Doc(), "order_to_invoice": Doc()}
    async with db.write() as s:
        await create_plan(s, decompose(definition, ORDER, mappings), ORDER, WritebackSettings())
    return definition


def worker(db, definition, handler, owner="w1"):
    return Worker(
        db,
        StepExecutor({"erp": FakeConnector(handler)}),
        {definition.name: definition},
        WritebackSettings(),
        owner=owner,
    )


async def plan_and_steps(db):
    async with db.read() as s:
        plan = (await s.scalars(select(Plan))).one()
        steps = {st.key: st for st in (await s.scalars(select(Step))).all()}
        outbox = [
            w.fields
            for w in (await s.scalars(select(WritebackItem).order_by(WritebackItem.id))).all()
        ]
    return plan, steps, outbox


async def test_plan_runs_in_dependency_order_and_writes_back(db):
    definition = await make_plan(db)
    calls = []

    def erp(action, payload, ctx):
        calls.append((action, ctx.idempotency_key, ctx.correlation_id))
        return CallResult(external_id="SO-1" if action == "sales_order.create" else "INV-1")

    w = worker(db, definition, erp)
    await w.run_until_idle()
    plan, steps, outbox = await plan_and_steps(db)
    assert [c[0] for c in calls] == ["sales_order.create", "invoice.create"]
    assert all(c[2] == plan.correlation_id for c in calls)
    assert plan.state == "completed"
    assert {k: s.state for k, s in steps.items()} == dict.fromkeys(
        ["validate", "create_sales_order", "create_invoice"], "completed"
    )
    assert outbox == [
        {"Fulfillment_Status__c": "In Progress", "Fulfillment_Error__c": None},
        {"ERP_Order_Number__c": "SO-1"},
        {"Fulfillment_Status__c": "Completed", "Fulfillment_Error__c": None},
    ]


async def test_retryable_errors_retry_with_the_same_idempotency_key(db):
    definition = await make_plan(db)
    keys = []

    def erp(action, payload, ctx):
        keys.append((action, ctx.idempotency_key, ctx.attempt))
        if action == "sales_order.create" and ctx.attempt == 1:
            raise RetryableError("503 from ERP", status_code=503)
        return CallResult(external_id="X")

    await worker(db, definition, erp).run_until_idle()
    plan, steps, _ = await plan_and_steps(db)
    so = [k for k in keys if k[0] == "sales_order.create"]
    assert [a for _, _, a in so] == [1, 2]
    assert so[0][1] == so[1][1]
    assert plan.state == "completed"
    async with db.read() as s:
        attempts = (await s.scalars(select(ConnectorAttempt).order_by(ConnectorAttempt.id))).all()
    assert [a.outcome for a in attempts] == ["retry", "completed", "completed"]


async def test_retry_after_is_honoured(db):
    definition = await make_plan(db)

    def erp(action, payload, ctx):
        raise RateLimitedError("slow down", retry_after=120, status_code=429)

    w = worker(db, definition, erp)
    await w.run_until_idle()
    _, steps, _ = await plan_and_steps(db)
    step = steps["create_sales_order"]
    assert step.state == "retrying"
    due = step.due_at if step.due_at.tzinfo else step.due_at.replace(tzinfo=utcnow().tzinfo)
    assert due - utcnow() > timedelta(seconds=100)


async def test_fatal_error_holds_plan_and_writes_error_text(db):
    definition = await make_plan(db)

    def erp(action, payload, ctx):
        raise FatalError("customer 42 is blocked", status_code=422)

    await worker(db, definition, erp).run_until_idle()
    plan, steps, outbox = await plan_and_steps(db)
    assert plan.state == "on_hold"
    assert plan.hold_reason == "create_sales_order: customer 42 is blocked"
    assert steps["create_sales_order"].state == "failed"
    assert steps["create_invoice"].state == "pending"
    assert outbox[-1] == {
        "Fulfillment_Status__c": "On Hold",
        "Fulfillment_Error__c": "create_sales_order: customer 42 is blocked",
    }


async def test_attempts_run_out_into_failure(db):
    definition = await make_plan(db)

    def erp(action, payload, ctx):
        raise RetryableError("down")

    await worker(db, definition, erp).run_until_idle()
    plan, steps, _ = await plan_and_steps(db)
    assert steps["create_sales_order"].attempts == 3
    assert plan.state == "on_hold"
    assert "gave up after 3 attempts" in (plan.error or "")


async def test_mapping_failure_fails_validate_step_with_its_text(db):
    definition = await make_plan(db, {"order_to_sales_order": Broken(), "order_to_invoice": Doc()})
    await worker(db, definition, lambda *a: CallResult("x")).run_until_idle()
    plan, steps, outbox = await plan_and_steps(db)
    assert steps["validate"].state == "failed"
    assert "mappings/x.yaml:3" in (steps["validate"].error or "")
    assert "8015e00000Q7mNpAAJ" in outbox[-1]["Fulfillment_Error__c"]


async def test_outcome_is_discarded_when_the_lease_was_lost(db):
    definition = await make_plan(db)
    w1 = worker(db, definition, lambda *a: CallResult("x"), owner="w1")
    claimed = await w1.claim(10)
    assert [c.key for c in claimed] == ["validate"]
    # the lease expires and another worker takes the step over
    async with db.write() as s:
        await s.execute(update(Step).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    w2 = worker(db, definition, lambda *a: CallResult("x"), owner="w2")
    taken = await w2.claim(10)
    assert [c.key for c in taken] == ["validate"] and taken[0].attempt == 2
    result = await w1.executor.run(claimed[0])
    assert await w1.complete(claimed[0], result) is False
    assert await w2.complete(taken[0], await w2.executor.run(taken[0])) is True
    async with db.read() as s:
        audits = (await s.scalars(select(AuditEntry.action))).all()
    assert audits.count("plan.created") == 1


async def test_claim_does_not_hand_out_a_leased_step_twice(db):
    definition = await make_plan(db)
    a = worker(db, definition, lambda *x: CallResult("x"), owner="a")
    b = worker(db, definition, lambda *x: CallResult("x"), owner="b")
    first, second = await a.claim(10), await b.claim(10)
    assert len(first) == 1 and second == []
