"""Step kinds, per-step retry policies, waits and signals, against a real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from revflow import clock
from revflow.connectors.errors import FatalError, RetryableError
from revflow.db.models import AuditEntry, Signal
from tests.plankit import ORDER_ID, insert_plan, make_worker, outbox, signal, states

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    with clock.frozen(T0) as start:
        yield start


def due(step):
    return step.due_at if step.due_at.tzinfo else step.due_at.replace(tzinfo=UTC)


async def test_milestone_and_auto_update_fields(db):
    pid = await insert_plan(
        db,
        [
            {"key": "m", "kind": "milestone"},
            {
                "key": "mark",
                "kind": "auto",
                "depends_on": ["m"],
                "input": {"auto": {"action": "update_fields", "fields": {"Stage__c": "Done"}}},
            },
        ],
    )
    await make_worker(db).run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "completed" and steps["mark"].state == "completed"
    assert ("Order", ORDER_ID, {"Stage__c": "Done"}) in await outbox(db)


async def test_publish_event_is_an_outbox_entry_for_the_event(db):
    spec = {"action": "publish_event", "event": "Order_Ready__e", "fields": {"Order__c": "x"}}
    pid = await insert_plan(db, [{"key": "pub", "kind": "auto", "input": {"auto": spec}}])
    await make_worker(db).run_until_idle()
    assert ("Order_Ready__e", ORDER_ID, {"Order__c": "x"}) in await outbox(db)
    assert (await states(db, pid))[0].state == "completed"


async def test_auto_step_without_fields_is_fallout_not_silent_success(db):
    pid = await insert_plan(db, [{"key": "pub", "kind": "auto", "input": {"auto": {}}}])
    await make_worker(db).run_until_idle()
    plan, steps = await states(db, pid)
    assert steps["pub"].state == "failed" and plan.state == "on_hold"
    assert plan.hold_reason is not None
    assert "no fields" in plan.hold_reason


async def test_pause_is_not_run_before_its_time(db, frozen):
    pid = await insert_plan(
        db,
        [
            {"key": "a", "kind": "milestone"},
            {
                "key": "p",
                "kind": "pause",
                "depends_on": ["a"],
                "wait_until": T0 + timedelta(hours=1),
            },
        ],
    )
    w = make_worker(db)
    await w.run_until_idle()
    plan, steps = await states(db, pid)
    assert steps["p"].state == "ready" and due(steps["p"]) == T0 + timedelta(hours=1)
    clock.advance(3599)
    assert await w.run_until_idle() == 0
    clock.advance(1)
    await w.run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "completed" and steps["p"].attempts == 1


async def test_relative_pause_is_deferred_once(db, frozen):
    pid = await insert_plan(db, [{"key": "p", "kind": "pause", "input": {"pause": {"for_s": 60}}}])
    w = make_worker(db)
    await w.run_until_idle()
    _, steps = await states(db, pid)
    assert steps["p"].state == "ready" and due(steps["p"]) == T0 + timedelta(seconds=60)
    clock.advance(60)
    await w.run_until_idle()
    assert (await states(db, pid))[0].state == "completed"


async def test_wait_completes_when_its_signal_arrives_and_consumes_it(db):
    pid = await insert_plan(
        db,
        [
            {"key": "w", "kind": "wait", "wait_key": "K-1"},
            {"key": "after", "kind": "milestone", "depends_on": ["w"]},
        ],
    )
    w = make_worker(db)
    await w.run_until_idle()
    _, steps = await states(db, pid)
    assert steps["w"].state == "waiting" and steps["after"].state == "pending"
    await signal(db, "other")
    await signal(db, "K-1", {"Status__c": "shipped"})
    assert await w.poll_waits() == 1
    await w.run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "completed"
    assert steps["w"].output is not None
    assert steps["w"].output["signal"] == {"Status__c": "shipped"}
    async with db.read() as s:
        consumed = dict(
            (await s.execute(select(Signal.correlation_key, Signal.consumed_by_step_id))).all()
        )
    assert consumed == {"other": None, "K-1": steps["w"].id}


async def test_signal_that_arrived_first_is_found_on_claim(db):
    await signal(db, "K-2")
    pid = await insert_plan(db, [{"key": "w", "kind": "wait", "wait_key": "K-2"}])
    await make_worker(db).run_until_idle()
    assert (await states(db, pid))[0].state == "completed"


async def test_one_signal_releases_one_waiting_step(db):
    pid = await insert_plan(
        db,
        [
            {"key": "a", "kind": "wait", "wait_key": "K"},
            {"key": "b", "kind": "wait", "wait_key": "K"},
        ],
    )
    w = make_worker(db)
    await w.run_until_idle()
    await signal(db, "K", n=1)
    await w.run_until_idle()
    _, steps = await states(db, pid)
    assert sorted(s.state for s in steps.values()) == ["completed", "waiting"]
    await signal(db, "K", n=2)
    await w.run_until_idle()
    assert (await states(db, pid))[0].state == "completed"


async def test_wait_times_out_into_fallout(db, frozen):
    pid = await insert_plan(
        db, [{"key": "w", "kind": "wait", "wait_key": "K-3", "input": {"wait": {"timeout_s": 600}}}]
    )
    w = make_worker(db)
    await w.run_until_idle()
    _, steps = await states(db, pid)
    assert steps["w"].state == "waiting"
    clock.advance(599)
    assert await w.poll_waits() == 0
    clock.advance(1)
    assert await w.poll_waits() == 1
    plan, steps = await states(db, pid)
    assert steps["w"].state == "failed" and plan.state == "on_hold"
    assert plan.hold_reason is not None
    assert "wait timed out" in plan.hold_reason
    assert (await outbox(db))[-1][2]["Fulfillment_Status__c"] == "On Hold"


async def test_manual_task_waits_with_its_assignee(db):
    pid = await insert_plan(db, [{"key": "check", "kind": "manual", "assignee": "queue:Desk"}])
    await make_worker(db).run_until_idle()
    plan, steps = await states(db, pid)
    assert steps["check"].state == "waiting" and plan.state == "in_progress"
    async with db.read() as s:
        actions = (await s.scalars(select(AuditEntry.action))).all()
    assert "step.waiting" in actions


async def test_per_step_policy_backs_off_precisely(db, frozen):
    policy = {
        "initial_interval_s": 10,
        "backoff_coefficient": 3,
        "maximum_interval_s": 60,
        "maximum_attempts": 5,
        "jitter": 0,
    }
    pid = await insert_plan(
        db, [{"key": "c", "kind": "callout", "action": "x.create", "retry_policy": policy}]
    )

    def erp(action, payload, ctx):
        raise RetryableError("503")

    w = make_worker(db, erp)
    dues = []
    for _ in range(4):
        await w.run_until_idle()
        _, steps = await states(db, pid)
        dues.append(due(steps["c"]) - clock.utcnow())
        clock.set_now(due(steps["c"]))
    assert dues == [timedelta(seconds=s) for s in (10, 30, 60, 60)]
    await w.run_until_idle()
    plan, steps = await states(db, pid)
    assert steps["c"].attempts == 5 and plan.state == "on_hold"
    assert plan.hold_reason is not None
    assert "gave up after 5 attempts" in plan.hold_reason


async def test_non_retryable_error_type_is_fatal_at_once(db):
    policy = {"maximum_attempts": 5, "non_retryable_error_types": ["RetryableError"]}
    pid = await insert_plan(
        db, [{"key": "c", "kind": "callout", "action": "x.create", "retry_policy": policy}]
    )

    def erp(action, payload, ctx):
        raise RetryableError("429-ish but configured fatal")

    await make_worker(db, erp).run_until_idle()
    plan, steps = await states(db, pid)
    assert steps["c"].attempts == 1 and steps["c"].state == "failed"
    assert plan.hold_reason is not None
    assert "non-retryable RetryableError" in plan.hold_reason


async def test_fallout_holds_plan_while_independent_branches_finish(db):
    pid = await insert_plan(
        db,
        [
            {"key": "bad", "kind": "callout", "action": "bad"},
            {"key": "after_bad", "kind": "milestone", "depends_on": ["bad"]},
            {"key": "good", "kind": "milestone"},
        ],
    )

    def erp(action, payload, ctx):
        raise FatalError("blocked customer")

    await make_worker(db, erp).run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "on_hold"
    assert {k: s.state for k, s in steps.items()} == {
        "bad": "failed",
        "after_bad": "pending",
        "good": "completed",
    }


async def test_step_states_in_the_status_map_are_written_back(db):
    from revflow.config import WritebackSettings

    wb = WritebackSettings(status_map={"in_progress": "In Progress", "m.completed": "Milestone!"})
    pid = await insert_plan(db, [{"key": "m"}, {"key": "n", "depends_on": ["m"]}])
    await make_worker(db, writeback=wb).run_until_idle()
    assert ("Order", ORDER_ID, {"Fulfillment_Status__c": "Milestone!"}) in await outbox(db)
    assert (await states(db, pid))[0].state == "completed"


async def test_a_freezing_plan_starts_no_step(db):
    from sqlalchemy import update

    from revflow.db.models import Plan

    pid = await insert_plan(db, [{"key": "m"}])
    async with db.write() as s:
        await s.execute(update(Plan).where(Plan.id == pid).values(state="freezing"))
    assert await make_worker(db).run_until_idle() == 0
    assert (await states(db, pid))[1]["m"].state == "ready"
