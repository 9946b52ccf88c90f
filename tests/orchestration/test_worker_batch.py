"""Set-based batch completion in the worker: one transaction, a constant number of
statements per batch, the same result as committing outcomes one by one."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from revflow.audit.verify import verify
from revflow.clock import utcnow
from revflow.connectors.base import CallResult
from revflow.connectors.errors import FatalError, RetryableError
from revflow.db.database import Database
from revflow.db.models import (
    AuditEntry,
    ConnectorAttempt,
    ConnectorCall,
    Plan,
    Signal,
    Step,
    StepState,
    WritebackItem,
)
from revflow.orchestration import claims
from tests.plankit import insert_plan, make_worker, signal, states


def erp(action: str, payload: Any, ctx: Any) -> CallResult:
    if action == "retry":
        raise RetryableError("503 from ERP", status_code=503)
    if action == "fatal":
        raise FatalError("customer 42 is blocked", status_code=422)
    return CallResult(external_id=f"EXT-{ctx.idempotency_key}")


MARK = {"action": "update_fields", "fields": {"Stage__c": "Go"}}


def scenario(prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Plans (by order id) whose first steps end in every kind of outcome."""
    return {
        f"{prefix}01": [
            {"key": "so", "kind": "callout", "action": "ok"},
            {"key": "inv", "kind": "callout", "action": "ok", "depends_on": ["so"]},
        ],
        f"{prefix}02": [{"key": "so", "kind": "callout", "action": "retry"}],
        f"{prefix}03": [
            {"key": "so", "kind": "callout", "action": "fatal"},
            {"key": "side", "kind": "milestone"},
        ],
        f"{prefix}04": [{"key": "task", "kind": "manual", "assignee": "ops"}],
        f"{prefix}05": [{"key": "cb", "kind": "wait", "wait_key": f"{prefix}-cb"}],
        f"{prefix}06": [
            {
                "key": "mark",
                "kind": "auto",
                "input": {"auto": {"action": "update_fields", "fields": {"Stage__c": "Go"}}},
            },
        ],
    }


async def snapshot(db: Any, order_id: str) -> dict[str, Any]:
    """What a plan's outcome left behind, without ids and times."""
    plan, steps = await states(db, await _plan_id(db, order_id))
    async with db.read() as s:
        items = (
            await s.scalars(
                select(WritebackItem)
                .where(WritebackItem.record_id == order_id)
                .order_by(WritebackItem.id)
            )
        ).all()
        audit = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.plan_id == plan.id)
                .order_by(AuditEntry.id)
            )
        ).all()
        attempts = (
            await s.execute(
                select(ConnectorCall.status, ConnectorAttempt.outcome)
                .join(ConnectorAttempt, ConnectorAttempt.call_id == ConnectorCall.id)
                .join(Step, Step.id == ConnectorCall.step_id)
                .where(Step.plan_id == plan.id)
                .order_by(ConnectorAttempt.id)
            )
        ).all()
    return {
        "plan": (plan.state, plan.hold_reason),
        "steps": {k: (st.state, st.error, st.lease_owner) for k, st in steps.items()},
        "outbox": [i.fields for i in items],
        "audit": list(audit),
        "attempts": [tuple(a) for a in attempts],
    }


async def _plan_id(db: Any, order_id: str) -> int:
    async with db.read() as s:
        return int(await s.scalar(select(Plan.id).where(Plan.order_id == order_id)))


async def test_a_batch_commits_mixed_outcomes_as_one_by_one_would(db):
    for prefix in ("801A", "801B"):
        for order_id, steps in scenario(prefix).items():
            await insert_plan(db, steps, order_id=f"{order_id}0000000000AAA"[:18])
        await signal(db, f"{prefix}-cb", {"ok": True})
    w = make_worker(db, erp)
    claimed = await w.claim(100)
    assert len(claimed) == 14
    results = [await w.executor.run(c) for c in claimed]
    batch = [(c, r) for c, r in zip(claimed, results, strict=True) if c.order_id[:4] == "801A"]
    single = [(c, r) for c, r in zip(claimed, results, strict=True) if c.order_id[:4] == "801B"]
    assert await w.complete_many(batch) == [True] * len(batch)
    for c, r in single:
        assert await w.complete(c, r) is True
    for order_id in scenario(""):
        a = await snapshot(db, f"801A{order_id}0000000000AAA"[:18])
        b = await snapshot(db, f"801B{order_id}0000000000AAA"[:18])
        assert a == b, order_id
    ok = await snapshot(db, "801A010000000000AAA"[:18])
    assert ok["steps"]["so"][0] == "completed" and ok["steps"]["inv"][0] == "ready"
    assert ok["attempts"] == [("succeeded", "completed")]
    assert (await snapshot(db, "801A020000000000AAA"[:18]))["steps"]["so"][0] == "retrying"
    held = await snapshot(db, "801A030000000000AAA"[:18])
    assert held["plan"] == ("on_hold", "so: customer 42 is blocked")
    assert held["steps"]["side"][0] == "completed"  # independent branch finished meanwhile
    assert "step.failed" in held["audit"] and "plan.on_hold" in held["audit"]
    assert (await snapshot(db, "801A040000000000AAA"[:18]))["steps"]["task"][0] == "waiting"
    assert (await snapshot(db, "801A050000000000AAA"[:18]))["steps"]["cb"][0] == "completed"
    assert {"Stage__c": "Go"} in (await snapshot(db, "801A060000000000AAA"[:18]))["outbox"]
    async with db.read() as s:
        consumed = (await s.scalars(select(Signal.consumed_by_step_id))).all()
    assert all(consumed) and len(set(consumed)) == 2


async def test_a_lost_lease_discards_only_that_outcome(db):
    first = await insert_plan(
        db, [{"key": "so", "kind": "callout", "action": "ok"}], "801000000000001AAA"
    )
    second = await insert_plan(
        db, [{"key": "so", "kind": "callout", "action": "ok"}], "801000000000002AAA"
    )
    w1, w2 = make_worker(db, erp, owner="w1"), make_worker(db, erp, owner="w2")
    claimed = await w1.claim(10)
    assert [c.plan_id for c in claimed] == [first, second]
    # the second step's lease expires and another worker takes it over
    async with db.write() as s:
        await s.execute(
            update(Step)
            .where(Step.plan_id == second)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    taken = await w2.claim(10)
    assert [c.plan_id for c in taken] == [second]
    done = [(c, await w1.executor.run(c)) for c in claimed]
    assert await w1.complete_many(done) == [True, False]
    plan1, steps1 = await states(db, first)
    plan2, steps2 = await states(db, second)
    assert plan1.state == "completed" and steps1["so"].state == "completed"
    assert steps2["so"].state == "running" and steps2["so"].lease_owner == "w2"
    assert await w2.complete(taken[0], await w2.executor.run(taken[0])) is True
    plan2, steps2 = await states(db, second)
    assert plan2.state == "completed" and steps2["so"].attempts == 2
    async with db.read() as s:
        outcomes = (await s.scalars(select(ConnectorAttempt.attempt))).all()
    assert sorted(outcomes) == [1, 2]  # the discarded outcome logged no attempt


async def test_statements_per_batch_do_not_grow_with_the_batch(db):
    """Completing 5 or 30 steps takes the same statements: the work is set-based."""
    counts, sizes = [], []
    for n, prefix in ((5, "801C"), (25, "801D")):
        for i in range(n):
            await insert_plan(
                db,
                [
                    {"key": "so", "kind": "callout", "action": "ok"},
                    {"key": "inv", "kind": "callout", "action": "ok", "depends_on": ["so"]},
                ],
                order_id=f"{prefix}{i:011d}AAA",
            )
        w = make_worker(db, erp)
        claimed = await w.claim(100)
        sizes.append(len(claimed))
        done = [(c, await w.executor.run(c)) for c in claimed]
        seen: Counter[str] = Counter()

        def count(conn, cursor, statement, params, context, executemany, seen=seen):
            seen[" ".join(statement.split()[:3])] += 1

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            assert await w.complete_many(done) == [True] * len(done)
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        counts.append(dict(seen))
        # what it did: first steps completed, the next ones ready
        async with db.read() as s:
            ready = await s.scalars(select(Step.state).where(Step.key == "inv"))
            assert Counter(ready.all())["ready"] == n
        await w.run_until_idle()
    assert sizes == [5, 25]
    assert counts[0] == counts[1]


async def test_a_failed_batch_is_committed_one_by_one_from_fresh_results(db, monkeypatch):
    waiting = await insert_plan(
        db, [{"key": "cb", "kind": "wait", "wait_key": "K-1"}], "801000000000003AAA"
    )
    calls = [
        await insert_plan(db, [{"key": "so", "kind": "callout", "action": "ok"}], order_id)
        for order_id in ("801000000000004AAA", "801000000000005AAA")
    ]
    await signal(db, "K-1", {"ok": True})
    w = make_worker(db, erp)
    record = w.commits._record  # the outcomes' release and call log, either form

    async def fails_for_batches(s, changes, calls, now):
        if len(changes) > 1:
            raise RuntimeError("boom")
        await record(s, changes, calls, now)

    monkeypatch.setattr(w.commits, "_record", fails_for_batches)
    claimed = await w.claim(10)
    done = [(c, await w.executor.run(c)) for c in claimed]
    assert await w.complete_many(done) == [True, True, True]
    assert [r.outcome for _c, r in done] == ["completed"] * 3  # as committed
    _, steps = await states(db, waiting)
    async with db.read() as s:
        consumed = await s.scalar(select(Signal.consumed_by_step_id))
    assert steps["cb"].state == "completed" and consumed == steps["cb"].id
    for pid in calls:
        plan, _ = await states(db, pid)
        assert plan.state == "completed"
    async with db.read() as s:
        assert len((await s.scalars(select(ConnectorAttempt))).all()) == 2


async def test_a_step_picked_by_two_claims_at_once_is_claimed_once(db, database_url):
    """Another process claims between this claim's SELECT and its UPDATE (on SQLite the
    SELECT runs before the write lock is taken): the UPDATE re-checks the step is due."""
    await insert_plan(db, [{"key": "so", "kind": "callout", "action": "ok"}])
    other_db = Database(database_url)  # its own connections, as another process has
    try:
        a, b = make_worker(db, erp, owner="a"), make_worker(other_db, erp, owner="b")
        taken_by_b: list[Any] = []
        write = db.write

        @asynccontextmanager
        async def write_with_a_race():
            async with write() as s:
                scalars = s.scalars

                async def picked_then_raced(*args, **kwargs):
                    ids = (await scalars(*args, **kwargs)).all()
                    if not taken_by_b:
                        taken_by_b.extend(await b.claim(10) or [None])
                    return _Rows(ids)

                s.scalars = picked_then_raced  # type: ignore[method-assign]
                yield s

        db.write = write_with_a_race  # type: ignore[method-assign]
        taken_by_a = await a.claim(10)
        db.write = write  # type: ignore[method-assign]
        claims = [c for c in taken_by_a + taken_by_b if c is not None]
        assert len(claims) == 1
        async with db.read() as s:
            step = (await s.scalars(select(Step))).one()
        assert step.attempts == 1 and step.lease_owner == ("a" if taken_by_a else "b")
    finally:
        await other_db.dispose()


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def all(self) -> list[Any]:
        return self.rows


async def test_a_batch_that_waited_for_its_plan_settles_on_what_the_other_committed(
    db, database_url
):
    """PostgreSQL: two outcomes of one plan committed at once (parallel branches, two
    workers).  The second waits for the plan's lock; it must then read the steps as
    the first left them, or the join step after both branches is never readied."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite commits one transaction at a time")
    plan_id = await insert_plan(
        db,
        [
            {"key": "a", "kind": "milestone"},
            {"key": "b", "kind": "milestone"},
            {"key": "join", "kind": "milestone", "depends_on": ["a", "b"]},
        ],
    )
    w1, w2 = make_worker(db, owner="w1"), make_worker(db, owner="w2")
    (first,) = await w1.claim(1)
    (second,) = await w2.claim(1)
    other = Database(database_url)
    try:
        async with other.write() as s:
            # the first worker's commit, holding the plan's lock
            await s.execute(select(Plan.id).where(Plan.id == plan_id).with_for_update())
            await claims.release_steps(s, "w1", [(first.id, {"state": StepState.COMPLETED})])
            waiting = asyncio.create_task(w2.complete(second, await w2.executor.run(second)))
            await asyncio.sleep(0.5)  # the second commit waits for the plan's lock
            assert not waiting.done()
        assert await waiting is True
    finally:
        await other.dispose()
    _, steps = await states(db, plan_id)
    assert (steps["a"].state, steps["b"].state) == ("completed", "completed")
    assert steps["join"].state in ("ready", "running")  # readied, or chained to w2


async def test_a_batch_that_completes_plans_flushes_nothing_through_the_orm(db):
    """The plans' state, their write-backs and audit entries go in as Core statements."""
    ids = [
        await insert_plan(
            db, [{"key": "so", "kind": "callout", "action": "ok"}], f"801E{i:011d}AAA"
        )
        for i in range(3)
    ]
    w = make_worker(db, erp)
    claimed = await w.claim(10)
    done = [(c, await w.executor.run(c)) for c in claimed]
    flushed: list[object] = []

    def note(session, _ctx, _instances):
        flushed.extend([*session.new, *session.dirty])

    event.listen(Session, "before_flush", note)
    try:
        assert await w.complete_many(done) == [True] * 3
    finally:
        event.remove(Session, "before_flush", note)
    assert flushed == []
    for plan_id in ids:
        plan, _steps = await states(db, plan_id)
        assert plan.state == "completed" and plan.completed_at is not None
    async with db.read() as s:
        actions = (
            await s.scalars(select(AuditEntry.action).where(AuditEntry.plan_id.in_(ids)))
        ).all()
        items = (
            await s.scalars(
                select(WritebackItem.record_id).where(WritebackItem.record_id.like("801E%"))
            )
        ).all()
        assert (await verify(s)).ok
    assert Counter(actions)["plan.completed"] == 3
    assert len(set(items)) == 3  # each Order's completed status is queued
