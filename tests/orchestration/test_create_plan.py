"""create_plan(s) store the definition's per-step fields; skipped steps never block; a
batch of plans is stored as one plan at a time would be, and judged as refresh would."""

from __future__ import annotations

from sqlalchemy import select

from revflow.audit.verify import verify
from revflow.config import WritebackSettings
from revflow.db.models import AuditEntry, Plan, Step, StepState, WritebackItem
from revflow.links import ConsoleSettings
from revflow.mapping import load_directory
from revflow.orchestration.jeopardy_watch import refresh
from revflow.orchestration.plans import create_plan, create_plans
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


def _ids(n: int) -> list[str]:
    return [f"8015e00000Q7mN{i}AAJ" for i in range(n)]


async def test_a_batch_stores_each_plan_as_refresh_would_judge_it(db) -> None:
    # on time (a far due date), and late (due in 2024): both judged at creation
    records = [order(Id=oid, EndDate="2099-12-31") for oid in _ids(2)]
    records.append(order(Id="8015e00000Q7mNzAAJ"))
    mappings = load_directory(MAPPINGS)
    new = [(decompose(FULL, r, mappings), r) for r in records]
    async with db.write() as s:
        plan_ids = await create_plans(s, new, WritebackSettings())
    async with db.read() as s:
        plans = {p.id: p for p in (await s.scalars(select(Plan))).all()}
        steps = (await s.scalars(select(Step).order_by(Step.id))).all()
        created = await s.scalars(select(AuditEntry).where(AuditEntry.action == "plan.created"))
        assert [e.plan_id for e in created.all()] == plan_ids
        assert (await verify(s)).problems == []
    assert [plans[p].order_id for p in plan_ids] == [r["Id"] for r in records]
    assert sorted(plan_ids) == plan_ids  # numbered in the batch's order
    assert [plans[p].jeopardy for p in plan_ids] == ["on_time", "on_time", "late"]
    for pid, (draft, _) in zip(plan_ids, new, strict=True):
        assert [s.key for s in steps if s.plan_id == pid] == [d.key for d in draft.steps]
    writes = await _writes(db)
    for pid, record in zip(plan_ids, records, strict=True):
        assert {"Fulfillment_Jeopardy__c": plans[pid].jeopardy} in writes[record["Id"]]
        assert {"Fulfillment_Status__c": "In Progress", "Fulfillment_Error__c": None} in writes[
            record["Id"]
        ]
    # a refresh right after finds nothing to change: no step, plan or outbox write
    async with db.write() as s:
        for pid in plan_ids:
            plan = await s.get_one(Plan, pid)
            assert await refresh(s, plan, WritebackSettings(), "test") == plan.jeopardy
    async with db.read() as s:
        again = (await s.scalars(select(Step).order_by(Step.id))).all()
    assert [st.jeopardy for st in again] == [st.jeopardy for st in steps]
    assert "on_time" in {st.jeopardy for st in steps}  # expected durations are judged
    assert await _writes(db) == writes


async def _writes(db) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    async with db.read() as s:
        for item in (await s.scalars(select(WritebackItem).order_by(WritebackItem.id))).all():
            out.setdefault(item.record_id, []).append(item.fields)
    return out


async def test_an_empty_batch_stores_nothing(db) -> None:
    async with db.write() as s:
        assert await create_plans(s, [], WritebackSettings()) == []
    assert await _writes(db) == {}
