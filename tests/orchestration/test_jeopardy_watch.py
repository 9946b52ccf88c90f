"""Jeopardy stored, written back and alerted against a database (the rules: tests/plans)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from revflow import clock
from revflow.api.plans import plan_out
from revflow.config import WritebackSettings
from revflow.db.models import AuditEntry, Plan, Step
from revflow.orchestration import operator
from revflow.orchestration.jeopardy_watch import sweep
from revflow.orchestration.plans import create_plan
from revflow.plans.decompose import decompose
from revflow.plans.definitions import order_fulfillment
from tests.plankit import ORDER_ID, insert_plan, make_worker, outbox, states, transact

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
H = 3600.0


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# -- against the database -------------------------------------------------------------


@pytest.fixture
def frozen():
    with clock.frozen(T0) as start:
        yield start


async def _set_due(db, pid: int, due: datetime) -> None:
    async with db.write() as s:
        await s.execute(update(Plan).where(Plan.id == pid).values(due_at=due))


async def _alerts(db) -> list[dict]:
    async with db.read() as s:
        rows = await s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "plan.jeopardy_changed")
            .order_by(AuditEntry.id)
        )
        return [a.detail for a in rows]


async def _jeopardy_writes(db) -> list[str | None]:
    return [
        f["Fulfillment_Jeopardy__c"]
        for _, _, f in await outbox(db)
        if len(f) == 1 and "Fulfillment_Jeopardy__c" in f
    ]


async def test_stuck_plan_goes_on_time_at_risk_late_with_write_back_and_alerts(db, frozen):
    pid = await insert_plan(
        db,
        [
            {"key": "a", "kind": "manual", "expected_duration_s": H},
            {"key": "b", "kind": "manual", "depends_on": ["a"], "expected_duration_s": H},
        ],
    )
    await _set_due(db, pid, at(3))  # 2 h of work, margin 24 min
    await make_worker(db).run_until_idle()  # a waits for a person
    writeback = WritebackSettings()

    assert await sweep(db, writeback) == 1
    plan, steps = await states(db, pid)
    assert plan.jeopardy == "on_time" and steps["a"].jeopardy == "on_time"
    assert await _alerts(db) == []  # the first verdict is written back, not alerted

    clock.advance(0.9 * H)
    assert (await states(db, pid))[1]["a"].jeopardy == "on_time"
    assert await sweep(db, writeback) == 0
    assert (await states(db, pid))[1]["a"].jeopardy == "at_risk"  # 90% of its hour

    clock.set_now(at(1.7))  # a overran: 1 h of b left, finish 2h42 > 3h - 24min
    assert await sweep(db, writeback) == 1
    plan, steps = await states(db, pid)
    assert plan.jeopardy == "at_risk" and steps["a"].jeopardy == "late"

    clock.set_now(at(2.1))  # finish 3h06 > due
    assert await sweep(db, writeback) == 1
    assert (await states(db, pid))[0].jeopardy == "late"

    assert await _jeopardy_writes(db) == ["on_time", "at_risk", "late"]
    alerts = await _alerts(db)
    assert [(a["from"], a["to"]) for a in alerts] == [("on_time", "at_risk"), ("at_risk", "late")]


async def test_settle_judges_a_finished_plan_at_its_completion(db, frozen):
    writeback = WritebackSettings()
    pid = await insert_plan(
        db,
        [
            {"key": "m", "kind": "milestone", "expected_duration_s": 60.0},
            {"key": "task", "kind": "manual", "depends_on": ["m"], "expected_duration_s": H},
        ],
    )
    await _set_due(db, pid, at(2))
    await make_worker(db).run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.jeopardy == "on_time" and steps["m"].jeopardy == "on_time"

    clock.set_now(at(2.5))
    await transact(db, operator.complete, writeback, pid, "task", actor="ops@example.com")
    plan, steps = await states(db, pid)
    assert plan.state == "completed" and plan.jeopardy == "late"
    assert steps["task"].jeopardy == "late"
    assert [(a["from"], a["to"]) for a in await _alerts(db)] == [("on_time", "late")]

    clock.set_now(at(10))
    assert await sweep(db, writeback) == 0  # finished plans are not swept
    async with db.read() as s:
        plan = await s.get(Plan, pid)
        rows = list(await s.scalars(select(Step).where(Step.plan_id == pid)))
    out = plan_out(plan, rows)
    assert out.jeopardy == "late" and out.due_at is not None
    assert {st.key: st.jeopardy for st in out.steps} == {"m": "on_time", "task": "late"}


async def test_create_plan_takes_the_due_date_from_the_order(db, frozen):
    order: dict[str, object] = {
        "Id": ORDER_ID,
        "EffectiveDate": "2030-01-05",
        "EndDate": None,
        "OrderItems": [],
    }

    class Doc:
        content_hash = "h"

        def apply(self, record):
            return {"external_id": record["Id"]}

    mappings = {"order_to_sales_order": Doc(), "order_to_invoice": Doc()}
    draft = decompose(order_fulfillment(), order, mappings)
    async with db.write() as s:
        plan = await create_plan(s, draft, order, WritebackSettings())
        pid = plan.id
    plan, _ = await states(db, pid)
    assert plan.due_at is not None
    due = plan.due_at if plan.due_at.tzinfo else plan.due_at.replace(tzinfo=UTC)
    assert due == datetime(2030, 1, 5, 23, 59, 59, tzinfo=UTC)
    assert plan.jeopardy == "on_time"
    assert ("Order", ORDER_ID, {"Fulfillment_Jeopardy__c": "on_time"}) in await outbox(db)
