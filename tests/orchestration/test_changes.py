"""Cancelling a plan in flight (changes.py): the point of no return, compensation in
reverse order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult
from revflow.connectors.errors import FatalError
from revflow.db.models import (
    AuditEntry,
    EventStatus,
    PlanState,
    ReceivedEvent,
    Step,
    StepState,
)
from revflow.ingest.events import IncomingEvent
from revflow.orchestration.changes import is_cancellation, request_cancellation
from tests.plankit import ORDER_ID, insert_plan, make_worker, outbox, states, transact

WB = WritebackSettings()
C, P, R = StepState.COMPLETED, StepState.PENDING, StepState.RUNNING


def comp(action: str) -> dict:
    return {
        "compensation": {
            "kind": "callout",
            "connector": "erp",
            "action": action,
            "idempotency_key": f"k-{action}",
            "input": {"payload": {}},
        }
    }


def recording(calls: list[str]) -> Callable[[str, Any, Any], CallResult]:
    """An ERP handler that records each action it is called with and succeeds."""

    def handler(action: str, payload: Any, ctx: Any) -> CallResult:
        calls.append(action)
        return CallResult("X")

    return handler


def test_is_cancellation():
    def ev(status: str, fields: tuple[str, ...] = ("Status",)) -> IncomingEvent:
        return IncomingEvent(
            channel="/data/OrderChangeEvent",
            replay_id="1",
            dedupe_key="d",
            payload={"Status": status},
            entity="Order",
            change_type="UPDATE",
            record_ids=(ORDER_ID,),
            changed_fields=fields,
        )

    assert is_cancellation(ev("Cancelled"))
    assert not is_cancellation(ev("Activated"))
    assert not is_cancellation(ev("Cancelled", ("PoNumber",)))


# -- against the database -------------------------------------------------------------


async def three_steps(db, state_c: StepState = P) -> int:
    plan_id = await insert_plan(
        db,
        [
            {"key": "a", "kind": "callout", "action": "so.create", "input": comp("undo_a")},
            {
                "key": "b",
                "kind": "callout",
                "action": "x.create",
                "depends_on": ["a"],
                "input": comp("undo_b"),
            },
            {
                "key": "c",
                "kind": "callout",
                "action": "inv.create",
                "depends_on": ["b"],
                "ponr": True,
            },
        ],
    )
    async with db.write() as s:
        await s.execute(update(Step).where(Step.key.in_(["a", "b"])).values(state=C))
        await s.execute(update(Step).where(Step.key == "c").values(state=state_c))
    return plan_id


async def audit_actions(db) -> list[str]:
    async with db.read() as s:
        return list((await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


async def test_cancel_compensates_in_reverse_order_then_cancels(db):
    plan_id = await three_steps(db, StepState.READY)
    calls: list[str] = []
    w = make_worker(db, recording(calls))
    status, note = await transact(db, request_cancellation, WB, ORDER_ID, "user")
    assert status == EventStatus.PROCESSED and "accepted" in note
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.FROZEN
    assert steps["c"].state == StepState.CANCELLED
    assert steps["b"].state == StepState.COMPENSATING and steps["a"].state == C
    await w.run_until_idle()
    assert calls == ["undo_b", "undo_a"]  # never inv.create
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.CANCELLED and plan.hold_reason is None
    assert steps["a"].state == steps["b"].state == StepState.COMPENSATED
    assert (
        "Order",
        ORDER_ID,
        {"Fulfillment_Status__c": "Cancelled", "Fulfillment_Error__c": None},
    ) in await outbox(db)
    actions = await audit_actions(db)
    assert actions.index("plan.freezing") < actions.index("plan.cancelled")
    assert actions.count("step.compensated") == 2


async def test_refused_after_the_point_of_no_return(db):
    plan_id = await three_steps(db, R)
    status, note = await transact(db, request_cancellation, WB, ORDER_ID, "user")
    assert status == EventStatus.PROCESSED and note.startswith("Change refused")
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.IN_PROGRESS
    assert steps["a"].state == C
    assert ("Order", ORDER_ID, {"Fulfillment_Error__c": note}) in await outbox(db)
    assert "plan.change_refused" in await audit_actions(db)
    # the plan runs on and completes; the refusal stays on the Order
    async with db.write() as s:
        await s.execute(
            update(Step).where(Step.key == "c").values(state=StepState.READY, due_at=utcnow())
        )
    await make_worker(db).run_until_idle()
    plan, _ = await states(db, plan_id)
    assert plan.state == PlanState.COMPLETED
    assert (await outbox(db))[-1][2] == {
        "Fulfillment_Status__c": "Completed",
        "Fulfillment_Error__c": note,
    }


async def test_running_step_finishes_and_later_changes_are_queued(db):
    plan_id = await insert_plan(
        db,
        [
            {"key": "a", "kind": "callout", "action": "so.create", "input": comp("undo_a")},
            {"key": "b", "kind": "callout", "action": "inv.create", "depends_on": ["a"]},
        ],
    )
    calls: list[str] = []
    w = make_worker(db, recording(calls))
    (claimed,) = await w.claim(10)
    status, _ = await transact(db, request_cancellation, WB, ORDER_ID, "user")
    assert status == EventStatus.PROCESSED
    status, note = await transact(db, request_cancellation, WB, ORDER_ID, "user")
    assert status == EventStatus.DEFERRED and "queued" in note
    async with db.write() as s:
        s.add(
            ReceivedEvent(
                dedupe_key="later",
                channel="c",
                replay_id="9",
                entity="Order",
                change_type="UPDATE",
                record_ids=[ORDER_ID],
                payload={},
                status=EventStatus.DEFERRED,
            )
        )
    plan, _ = await states(db, plan_id)
    assert plan.state == PlanState.FREEZING  # a is still running
    await w.complete(claimed, await w.executor.run(claimed))
    await w.run_until_idle()
    assert calls == ["so.create", "undo_a"]
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.CANCELLED
    assert steps["b"].state == StepState.CANCELLED
    async with db.read() as s:
        later = (await s.scalars(select(ReceivedEvent))).one()
    assert later.status == EventStatus.RECEIVED  # released to the inbox
    _, note = await transact(db, request_cancellation, WB, ORDER_ID, "user")
    assert note.endswith("already cancelled")


async def test_failed_compensation_stops_with_the_error_on_the_order(db):
    plan_id = await three_steps(db, StepState.READY)

    def erp(action, payload, ctx):
        raise FatalError("no such order")

    w = make_worker(db, erp)
    await transact(db, request_cancellation, WB, ORDER_ID, "user")
    await w.run_until_idle()
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.FROZEN
    assert steps["b"].state == StepState.FAILED and steps["a"].state == C
    assert steps["b"].error is not None
    assert "compensation failed: no such order" in steps["b"].error
    last = (await outbox(db))[-1][2]["Fulfillment_Error__c"]
    assert last.startswith("Cancellation stopped: b")


async def test_no_plan_yet_writes_cancelled(db):
    status, note = await transact(db, request_cancellation, WB, ORDER_ID, "user")
    assert "no plan" in note
    assert (await outbox(db))[0][2]["Fulfillment_Status__c"] == "Cancelled"


async def test_cancellation_scenario_steps_run_after_compensation(db):
    from revflow.plans.decompose import PlanDraft, StepDraft

    plan_id = await three_steps(db, StepState.READY)
    calls: list[str] = []
    w = make_worker(db, recording(calls))

    def cancel_steps(order: dict) -> PlanDraft:
        assert order["Id"] == ORDER_ID  # the order as the plan last read it
        steps = tuple(
            StepDraft(key, i, "callout", deps, "erp", action, f"ik-{key}", {"payload": {}}, None)
            for i, (key, deps, action) in enumerate(
                [("cancel_so", (), "so.cancel"), ("notify", ("cancel_so",), "notify")]
            )
        )
        return PlanDraft(ORDER_ID, "test", "cancellation", "rf", steps)

    await transact(db, request_cancellation, WB, ORDER_ID, "user", cancel_steps)
    await w.run_until_idle()
    assert calls == ["undo_b", "undo_a", "so.cancel", "notify"]
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.CANCELLED and plan.amendment is None
    assert steps["cancel_so~cancel"].state == steps["notify~cancel"].state == C
    assert steps["notify~cancel"].depends_on == ["cancel_so~cancel"]
    actions = await audit_actions(db)
    assert actions.index("plan.cancelling") < actions.index("plan.cancelled")
    assert (await outbox(db))[-1][2]["Fulfillment_Status__c"] == "Cancelled"


async def test_a_failed_cancellation_step_waits_in_fallout(db):
    from revflow.plans.decompose import PlanDraft, StepDraft

    plan_id = await three_steps(db, StepState.READY)

    def erp(action, payload, ctx):
        if action == "so.cancel":
            raise FatalError("already shipped")
        return CallResult("X")

    def cancel_steps(order: dict) -> PlanDraft:
        step = StepDraft("cancel_so", 0, "callout", (), "erp", "so.cancel", "ik", {}, None)
        return PlanDraft(ORDER_ID, "test", "cancellation", "rf", (step,))

    await transact(db, request_cancellation, WB, ORDER_ID, "user", cancel_steps)
    await make_worker(db, erp).run_until_idle()
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.CANCELLING
    assert steps["cancel_so~cancel"].state == StepState.FAILED
    assert steps["cancel_so~cancel"].error is not None
    assert "already shipped" in steps["cancel_so~cancel"].error


async def test_a_cancellation_without_plan_is_noted_once(db):
    await transact(db, request_cancellation, WB, ORDER_ID, "user")
    status, note = await transact(db, request_cancellation, WB, ORDER_ID, "revflow")  # a recovery
    assert status == EventStatus.PROCESSED and "noted before" in note
    assert len(await outbox(db)) == 1
    assert (await audit_actions(db)).count("order.cancelled_without_plan") == 1
