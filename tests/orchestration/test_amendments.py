"""In-flight amendments: diff, PONR refusal, compensation of changed work, re-runs,
added and removed lines, queued amendments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult
from revflow.db.models import AuditEntry, EventStatus, PlanState, Step, StepState
from revflow.orchestration.amendments import request_amendment
from revflow.plans.decompose import PlanDraft, StepDraft
from revflow.plans.diff import (
    versioned_key,
)
from revflow.plans.ponr import REFUSED
from tests.plankit import ORDER_ID, insert_plan, make_worker, outbox, states, transact
from tests.plans import draft, undo

WB = WritebackSettings()
C, P, R, S = StepState.COMPLETED, StepState.PENDING, StepState.RUNNING, StepState.SKIPPED


# -- against the database -------------------------------------------------------------


def amended(*steps: StepDraft) -> PlanDraft:
    return PlanDraft(
        order_id=ORDER_ID,
        definition="test",
        scenario="new",
        correlation_id=f"rf-{ORDER_ID}",
        steps=steps,
    )


async def two_step_plan(db, so_state: StepState = C, undo_so: bool = True) -> int:
    so_input: dict[str, Any] = {"payload": {"q": 1}}
    if undo_so:
        so_input["compensation"] = undo("so.cancel")
    plan_id = await insert_plan(
        db,
        [
            {"key": "so", "kind": "callout", "action": "so.create", "input": so_input},
            {
                "key": "inv",
                "kind": "callout",
                "action": "inv.create",
                "depends_on": ["so"],
                "input": {"payload": {"q": 1}},
            },
        ],
    )
    async with db.write() as s:
        await s.execute(update(Step).where(Step.key == "so").values(state=so_state))
    return plan_id


async def audit_actions(db) -> list[str]:
    async with db.read() as s:
        return list((await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())


def recorder(calls: list[tuple[str, Any, str]]):
    def erp(action, payload, ctx):
        calls.append((action, payload, ctx.idempotency_key))
        return CallResult(f"X-{len(calls)}")

    return erp


async def test_quantity_change_compensates_done_work_then_runs_it_again(db):
    plan_id = await two_step_plan(db)
    calls: list[tuple[str, Any, str]] = []
    w = make_worker(db, recorder(calls))
    new = amended(
        draft("so", {"q": 3}, compensation=undo("so.cancel"), action="so.create"),
        draft("inv", {"q": 3}, deps=("so",), action="inv.create"),
    )
    status, note = await transact(db, request_amendment, WB, {"Id": ORDER_ID, "v": 2}, new, "user")
    assert status == EventStatus.PROCESSED and "amendment accepted" in note
    plan, steps = await states(db, plan_id)
    assert plan.amendment is not None
    assert plan.state == PlanState.FROZEN and plan.amendment["version"] == 2
    assert steps["so"].state == StepState.COMPENSATING
    assert steps["inv"].state == P and steps["inv"].input == {"payload": {"q": 3}}  # in place
    await w.run_until_idle()
    assert [c[0] for c in calls] == ["so.cancel", "so.create", "inv.create"]
    assert calls[1][1] == {"q": 3, "revision": 2}  # the re-run says its revision
    assert calls[1][2] == versioned_key(f"{ORDER_ID}-so", 2) != f"{ORDER_ID}-so"
    assert calls[2][1] == {"q": 3}  # never sent before: a first document
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.COMPLETED and plan.version == 2 and plan.amendment is None
    assert steps["so"].state == steps["inv"].state == C
    actions = await audit_actions(db)
    assert actions.index("plan.freezing") < actions.index("plan.amended")
    assert (
        "Order",
        ORDER_ID,
        {"Fulfillment_Status__c": "Completed", "Fulfillment_Error__c": None},
    ) in await outbox(db)


async def test_removed_line_is_undone_and_added_line_runs(db):
    plan_id = await insert_plan(
        db,
        [
            {
                "key": "ship@L1",
                "kind": "callout",
                "action": "ship",
                "scope_key": "L1",
                "input": {"payload": {"q": 1}, "compensation": undo("unship")},
            },
            {"key": "ship@L2", "kind": "callout", "action": "ship", "scope_key": "L2"},
            {"key": "bill", "kind": "callout", "action": "bill", "depends_on": ["ship@L1"]},
        ],
    )
    async with db.write() as s:
        await s.execute(update(Step).where(Step.key == "ship@L1").values(state=C))
    calls: list[tuple[str, Any, str]] = []
    w = make_worker(db, recorder(calls))
    new = amended(
        draft("ship@L2", {"q": 1}, scope_key="L2", action="ship"),
        draft("ship@L3", {"q": 5}, scope_key="L3", action="ship"),
        draft("bill", {"q": 1}, deps=("ship@L2", "ship@L3"), action="bill"),
    )
    # ship@L2 was created with an empty input: it is changed as well
    await transact(db, request_amendment, WB, {"Id": ORDER_ID}, new, "user")
    await w.run_until_idle()
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.COMPLETED and plan.version == 2
    assert steps["ship@L1"].state == StepState.DISCARDED
    assert steps["ship@L1"].note is not None
    assert "compensated" in steps["ship@L1"].note
    assert steps["ship@L3"].state == C and steps["bill"].depends_on == ["ship@L2", "ship@L3"]
    actions = [c[0] for c in calls]
    assert actions[0] == "unship" and actions[-1] == "bill"  # bill after both lines
    assert sorted(actions[1:3]) == ["ship", "ship"]


async def test_done_work_without_compensation_runs_again_as_a_revision(db):
    plan_id = await two_step_plan(db, undo_so=False)
    calls: list[tuple[str, Any, str]] = []
    w = make_worker(db, recorder(calls))
    new = amended(draft("so", {"q": 2}, action="so.create"), draft("inv", {"q": 2}, deps=("so",)))
    await transact(db, request_amendment, WB, {"Id": ORDER_ID}, new, "user")
    await w.run_until_idle()
    assert [(c[0], c[1].get("revision")) for c in calls] == [("so.create", 2), ("inv.create", None)]
    plan, _ = await states(db, plan_id)
    assert plan.state == PlanState.COMPLETED


async def test_amendment_past_the_point_of_no_return_is_refused(db):
    plan_id = await two_step_plan(db)
    async with db.write() as s:
        await s.execute(update(Step).where(Step.key == "so").values(ponr=True))
    new = amended(draft("so", {"q": 9}), draft("inv", {"q": 9}, deps=("so",)))
    status, note = await transact(db, request_amendment, WB, {"Id": ORDER_ID}, new, "user")
    assert status == EventStatus.PROCESSED and note.startswith(REFUSED)
    assert "point of no return passed (step so" in note
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.IN_PROGRESS and plan.version == 1
    assert steps["inv"].input == {"payload": {"q": 1}}
    assert ("Order", ORDER_ID, {"Fulfillment_Error__c": note}) in await outbox(db)
    assert "plan.change_refused" in await audit_actions(db)


async def test_no_difference_changes_nothing(db):
    plan_id = await two_step_plan(db, undo_so=False)
    same = amended(draft("so", {"q": 1}), draft("inv", {"q": 1}, deps=("so",)))
    status, note = await transact(db, request_amendment, WB, {"Id": ORDER_ID}, same, "user")
    assert status == EventStatus.PROCESSED and note == "plan already exists"
    plan, _ = await states(db, plan_id)
    assert plan.state == PlanState.IN_PROGRESS and plan.version == 1


async def test_amendments_in_a_row_are_queued_then_applied(db):
    plan_id = await two_step_plan(db, so_state=StepState.READY, undo_so=False)
    calls: list[tuple[str, Any, str]] = []
    w = make_worker(db, recorder(calls))
    (claimed,) = await w.claim(10)  # so is running
    first = amended(draft("so", {"q": 2}), draft("inv", {"q": 2}, deps=("so",)))
    status, _ = await transact(db, request_amendment, WB, {"Id": ORDER_ID}, first, "user")
    assert status == EventStatus.PROCESSED
    plan, _ = await states(db, plan_id)
    assert plan.state == PlanState.FREEZING  # so is still running
    second = amended(draft("so", {"q": 4}), draft("inv", {"q": 4}, deps=("so",)))
    status, note = await transact(db, request_amendment, WB, {"Id": ORDER_ID}, second, "user")
    assert status == EventStatus.DEFERRED and "queued" in note
    await w.complete(claimed, await w.executor.run(claimed))  # so done: v2 applies
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.IN_PROGRESS and plan.version == 2
    assert steps["so"].state == StepState.READY  # to run again for v2
    # released, the queued change is handled again (intake reads the order again)
    status, _ = await transact(db, request_amendment, WB, {"Id": ORDER_ID}, second, "user")
    assert status == EventStatus.PROCESSED
    await w.run_until_idle()
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.COMPLETED and plan.version == 3
    assert steps["inv"].input == {"payload": {"q": 4}}
    so_calls = [(c[1], c[2]) for c in calls if c[0] == "so.create"]
    assert so_calls[0] == ({"q": 1}, f"{ORDER_ID}-so")
    assert so_calls[1:] == [({"q": 4, "revision": 3}, versioned_key(f"{ORDER_ID}-so", 3))]


async def test_an_amendment_scenario_carries_the_change_instead_of_a_rerun(db):
    plan_id = await two_step_plan(db, undo_so=False)
    calls: list[tuple[str, Any, str]] = []
    w = make_worker(db, recorder(calls))
    new = amended(draft("so", {"q": 2}, action="so.create"), draft("inv", {"q": 2}, deps=("so",)))
    scenario = amended(draft("amend_so", {"q": 2}, action="so.update"))
    await transact(db, request_amendment, WB, {"Id": ORDER_ID}, new, "user", scenario)
    plan, steps = await states(db, plan_id)  # nothing to undo: applied at once
    assert plan.state == PlanState.IN_PROGRESS and plan.version == 2
    assert steps["so"].note is not None
    assert steps["so"].state == C and "carried by amend_so~v2" in steps["so"].note
    assert steps["amend_so~v2"].idempotency_key == versioned_key(f"{ORDER_ID}-amend_so", 2)
    # the next amendment compares only the order's own steps
    again = amended(draft("so", {"q": 5}, action="so.create"), draft("inv", {"q": 5}, deps=("so",)))
    scenario = amended(draft("amend_so", {"q": 5}, action="so.update"))
    status, note = await transact(
        db, request_amendment, WB, {"Id": ORDER_ID}, again, "user", scenario
    )
    assert "-0 ~2" in note  # nothing removed: amend_so~v2 is not part of the diff
    await w.run_until_idle()
    plan, steps = await states(db, plan_id)
    assert plan.state == PlanState.COMPLETED and plan.version == 3
    assert steps["amend_so~v2"].state == steps["amend_so~v3"].state == C
    # so is never sent again: the scenario's update carries each change
    assert sorted(c[0] for c in calls) == ["inv.create", "so.update", "so.update"]
    assert [c[1] for c in calls if c[0] == "inv.create"] == [{"q": 5}]
