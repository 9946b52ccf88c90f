"""create_plan stores the definition's per-step fields; skipped steps never block."""

from __future__ import annotations

from sqlalchemy import select

from revflow.config import WritebackSettings
from revflow.db.models import Step, StepState, WritebackItem
from revflow.links import ConsoleSettings
from revflow.mapping import load_directory
from revflow.orchestration.plans import create_plan
from revflow.plans.decompose import decompose
from revflow.plans.files import load_plan_file
from tests.plans import HW1, MAPPINGS, PLANS, SVC, order

FULL = load_plan_file(PLANS / "order_fulfillment_full.yaml")


async def stored(db, record):
    draft = decompose(FULL, record, load_directory(MAPPINGS))
    async with db.write() as s:
        await create_plan(s, draft, record, WritebackSettings())
    async with db.read() as s:
        return {st.key: st for st in (await s.scalars(select(Step))).all()}


async def test_skipped_steps_are_created_skipped_and_their_dependants_wait_correctly(db) -> None:
    steps = await stored(db, order())
    approval = steps["manual_approval"]
    assert approval.state == StepState.SKIPPED
    assert approval.note == "TotalAmount 120.0 is not > 10000"
    assert steps["validate"].state == StepState.READY
    # create_sales_order waits for validate (inherited through the skipped approval)
    assert steps["create_sales_order"].state == StepState.PENDING
    assert set(steps["create_sales_order"].depends_on) == {"manual_approval", "validate"}


async def test_step_columns_come_from_the_definition(db) -> None:
    steps = await stored(db, order(TotalAmount=20000.0))
    assert steps["manual_approval"].state == StepState.PENDING
    assert steps["manual_approval"].assignee == "queue:Order Desk"
    assert steps["manual_approval"].expected_duration_s == 86400
    wait = steps[f"await_shipment@{HW1}"]
    assert (wait.scope_key, wait.wait_key) == (HW1, f"{HW1}-shipped")
    assert steps[f"wait_for_start@{SVC}"].wait_until is not None
    assert steps["create_invoice"].ponr is True
    assert steps["create_sales_order"].compensation_key == "cancel_sales_order"
    assert steps["create_sales_order"].retry_policy["maximum_attempts"] == 10


async def _outbox(db, console: ConsoleSettings | None) -> tuple[int, list[dict]]:
    record = order()
    draft = decompose(FULL, record, load_directory(MAPPINGS))
    async with db.write() as s:
        plan = await create_plan(s, draft, record, WritebackSettings(), console=console)
    async with db.read() as s:
        items = (await s.scalars(select(WritebackItem).order_by(WritebackItem.id))).all()
        return plan.id, [i.fields for i in items if i.record_id == record["Id"]]


async def test_the_plan_link_goes_to_the_order_with_in_progress(db) -> None:
    console = ConsoleSettings(public_url="https://revflow.example.com/")
    plan_id, writes = await _outbox(db, console)
    link = f"https://revflow.example.com/console/plans/{plan_id}"
    assert {"Revflow_Plan_URL__c": link} in writes
    assert any(w.get("Fulfillment_Status__c") == "In Progress" for w in writes)


async def test_no_link_is_written_without_a_public_url(db) -> None:
    _, writes = await _outbox(db, ConsoleSettings())
    assert not any("Revflow_Plan_URL__c" in w for w in writes)
