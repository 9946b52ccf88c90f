"""Operator actions: each one transaction, checked, audited, written back."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult
from revflow.connectors.errors import FatalError
from revflow.db.models import AuditEntry
from revflow.orchestration import operator
from revflow.orchestration.errors import BadRequest, Conflict, NotFound
from tests.plankit import insert_plan, make_worker, outbox, states, transact

WB = WritebackSettings()
CHAIN: list[dict[str, Any]] = [
    {"key": "a", "kind": "milestone"},
    {"key": "b", "kind": "callout", "action": "so.create", "depends_on": ["a"]},
    {"key": "c", "kind": "milestone", "depends_on": ["b"]},
]


def failing_then(ok_after: int):
    calls = []

    def erp(action, payload, ctx):
        calls.append(payload)
        if len(calls) <= ok_after:
            raise FatalError("customer blocked")
        return CallResult(external_id="SO-1")

    return erp, calls


async def held_plan(db, erp):
    pid = await insert_plan(db, CHAIN)
    w = make_worker(db, erp)
    await w.run_until_idle()
    assert (await states(db, pid))[0].state == "on_hold"
    return pid, w


async def audit_actions(db, pid):
    async with db.read() as s:
        rows = await s.scalars(
            select(AuditEntry).where(AuditEntry.plan_id == pid).order_by(AuditEntry.id)
        )
        return [(a.actor, a.action, a.detail) for a in rows]


async def test_retry_with_edited_input_resumes_the_plan(db):
    erp, calls = failing_then(1)
    pid, w = await held_plan(db, erp)
    new_input = {"payload": {"n": 2}}
    result = await transact(
        db, operator.retry, WB, pid, "b", actor="ann", reason="customer unblocked", input=new_input
    )
    assert result.plan_state == "in_progress" and result.changed == {"b": "ready"}
    plan, steps = await states(db, pid)
    assert plan.hold_reason is None and steps["b"].input == {"payload": {"n": 2}}
    await w.run_until_idle()
    plan, _ = await states(db, pid)
    assert plan.state == "completed" and calls[-1] == {"n": 2}
    fields = [f for _o, _r, f in await outbox(db)]
    assert [f.get("Fulfillment_Status__c") for f in fields] == [
        "On Hold",
        "In Progress",
        "Completed",
    ]
    actor, action, detail = next(
        a for a in await audit_actions(db, pid) if a[1] == "operator.retry"
    )
    assert actor == "ann" and detail["reason"] == "customer unblocked"
    assert detail["input"] == {"payload": {"n": 2}}


async def test_skip_lets_dependants_run(db):
    pid, w = await held_plan(db, failing_then(99)[0])
    await transact(db, operator.skip, WB, pid, "b", actor="ann", reason="done by hand in the ERP")
    await w.run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "completed"
    assert steps["b"].state == "skipped" and steps["b"].note == "done by hand in the ERP"


async def test_actions_not_allowed_are_conflicts_with_a_reason(db):
    pid, _ = await held_plan(db, failing_then(99)[0])
    with pytest.raises(Conflict, match="only a failed step can be retried"):
        await transact(db, operator.retry, WB, pid, "a", actor="ann", reason="x")
    with pytest.raises(Conflict, match="only a waiting"):
        await transact(db, operator.complete, WB, pid, "b", actor="ann")
    with pytest.raises(NotFound, match="no step 'zz'"):
        await transact(db, operator.skip, WB, pid, "zz", actor="ann", reason="x")
    with pytest.raises(NotFound, match="no plan 999"):
        await transact(db, operator.cancel, WB, 999, actor="ann", reason="x")
    with pytest.raises(BadRequest, match="reason"):
        await transact(db, operator.skip, WB, pid, "b", actor="ann", reason=" ")


async def test_complete_manual_task_with_output(db):
    pid = await insert_plan(
        db,
        [
            {"key": "check", "kind": "manual", "assignee": "queue:Desk"},
            {"key": "z", "depends_on": ["check"]},
        ],
    )
    w = make_worker(db)
    await w.run_until_idle()
    await transact(db, operator.complete, WB, pid, "check", actor="bob", output={"credit_ok": True})
    await w.run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "completed"
    assert steps["check"].output == {"credit_ok": True, "completed_by": "bob"}


async def test_redrive_keeps_completed_steps_and_reruns_from_the_failed_one(db):
    erp, calls = failing_then(1)
    pid, w = await held_plan(db, erp)
    _, before = await states(db, pid)
    result = await transact(db, operator.redrive, WB, pid, "b", actor="ann", reason="ERP fixed")
    assert result.changed == {"b": "pending"}
    _, steps = await states(db, pid)
    assert steps["a"].state == "completed" and steps["a"].finished_at == before["a"].finished_at
    assert steps["b"].state == "ready" and steps["b"].attempts == 0
    await w.run_until_idle()
    assert (await states(db, pid))[0].state == "completed"
    assert len(calls) == 2


async def test_cancel_with_fallout_fails_the_plan_and_without_cancels_it(db):
    pid, _ = await held_plan(db, failing_then(99)[0])
    result = await transact(db, operator.cancel, WB, pid, actor="ann", reason="customer withdrew")
    assert result.plan_state == "failed"
    plan, steps = await states(db, pid)
    assert steps["c"].state == "cancelled" and steps["b"].state == "failed"
    assert (await outbox(db))[-1][2]["Fulfillment_Status__c"] == "Failed"
    with pytest.raises(Conflict, match="plan is failed"):
        await transact(db, operator.retry, WB, pid, "b", actor="ann", reason="x")

    other = await insert_plan(db, [{"key": "m", "kind": "manual"}], order_id="8015e00000Q7mNqAAJ")
    await make_worker(db).run_until_idle()
    assert (
        await transact(db, operator.cancel, WB, other, actor="ann", reason="dup")
    ).plan_state == "cancelled"
    assert (await outbox(db))[-1][2]["Fulfillment_Status__c"] == "Cancelled"


async def test_fallout_queue_lists_failed_steps_of_open_plans(db):
    pid, _ = await held_plan(db, failing_then(99)[0])
    items = await transact(db, operator.list_fallout)
    assert [(i.plan_id, i.step, i.attempts) for i in items] == [(pid, "b", 1)]
    assert items[0].error == "customer blocked" and items[0].since is not None
    await transact(db, operator.cancel, WB, pid, actor="ann", reason="gone")
    assert await transact(db, operator.list_fallout) == []
