"""Leases: the claim (one statement on PostgreSQL, built once and bound per call), the
fence and the release of an outcome."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.models import Step, StepState
from revflow.orchestration import claims
from tests.plankit import insert_plan, make_worker

CALLOUT = [{"key": "so", "kind": "callout", "action": "ok"}]


async def _plans(db: Database, n: int) -> list[int]:
    return [await insert_plan(db, CALLOUT, order_id=f"801{i:012d}AAA") for i in range(n)]


async def _step(db: Database, plan_id: int) -> Step:
    async with db.read() as s:
        return (await s.scalars(select(Step).where(Step.plan_id == plan_id))).one()


async def test_a_claim_leases_due_steps_oldest_plan_first_with_their_plans_columns(db):
    plans = await _plans(db, 3)
    first = await make_worker(db, owner="a").claim(2)
    assert [c.plan_id for c in first] == plans[:2]
    assert [c.order_id for c in first] == ["801000000000000AAA", "801000000000001AAA"]
    assert {c.correlation_id for c in first} == {"rf-801000000000000AAA", "rf-801000000000001AAA"}
    assert {(c.definition, c.attempt, c.key) for c in first} == {("test", 1, "so")}
    # the same statement, bound for another owner and limit: only what is left
    second = await make_worker(db, owner="b").claim(10)
    assert [c.plan_id for c in second] == plans[2:]
    assert await make_worker(db, owner="c").claim(10) == []
    leased = [await _step(db, pid) for pid in plans]
    assert [st.lease_owner for st in leased] == ["a", "a", "b"]
    assert all(st.state == StepState.RUNNING and st.attempts == 1 for st in leased)
    assert all(st.lease_expires_at is not None and st.started_at is not None for st in leased)


async def test_a_lapsed_lease_is_taken_over_and_the_old_owner_is_fenced_out(db):
    (plan,) = await _plans(db, 1)
    old = make_worker(db, owner="old")
    (mine,) = await old.claim(10)
    async with db.write() as s:
        await s.execute(
            update(Step)
            .where(Step.plan_id == plan)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    (theirs,) = await make_worker(db, owner="new").claim(10)
    assert theirs.id == mine.id and theirs.attempt == 2
    async with db.write() as s:
        assert await claims.fence(s, [mine.id], "old", db.is_sqlite) == set()
        assert await claims.fence(s, [mine.id], "new", db.is_sqlite) == {mine.id}
    # the old owner's outcome changes nothing: its UPDATE repeats the fence
    async with db.write() as s:
        await claims.release_steps(s, "old", [(mine.id, {"state": StepState.COMPLETED})])
    step = await _step(db, plan)
    assert step.state == StepState.RUNNING and step.lease_owner == "new"
    async with db.write() as s:
        await claims.release_steps(s, "new", [(mine.id, {"state": StepState.COMPLETED})])
    step = await _step(db, plan)
    assert step.state == StepState.COMPLETED and step.lease_owner is None


async def test_a_step_leased_in_an_open_claim_is_skipped_by_a_concurrent_claim(db, database_url):
    """PostgreSQL: the claim's pick skips rows another claim's transaction holds."""
    if db.is_sqlite:
        pytest.skip("SQLite serialises writers: no two claims run at once")
    plans = await _plans(db, 2)
    other = Database(database_url)
    try:
        async with db.write() as s:
            mine, _ = await claims.lease_due_steps(
                s,
                claims.due_steps,
                owner="a",
                lease=timedelta(seconds=30),
                now=utcnow(),
                limit=1,
                columns=(Step.key,),
                values={"state": StepState.RUNNING},
            )
            theirs = await make_worker(other, owner="b").claim(10)  # while "a" holds its row
        assert [r.plan_id for r in mine] == plans[:1]
        assert [c.plan_id for c in theirs] == plans[1:]
    finally:
        await other.dispose()


TWO: list[dict[str, Any]] = [
    {"key": "a", "kind": "callout", "action": "ok"},
    {"key": "b", "kind": "milestone", "depends_on": ["a"]},
]


async def test_fence_and_read_locks_only_the_owners_steps_and_reads_the_plans_steps(
    db, database_url
):
    """PostgreSQL: the batch commit's fence and settle read in one statement."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite fences with its write lock (claims.fence)")
    mine_plan = await insert_plan(db, TWO, order_id="801000000000000AAA")
    lost_plan = await insert_plan(db, TWO, order_id="801000000000001AAA")
    (mine,) = await make_worker(db, owner="me").claim(1)
    (lost,) = await make_worker(db, owner="other").claim(1)
    assert (mine.plan_id, lost.plan_id) == (mine_plan, lost_plan)
    other = Database(database_url)
    try:
        async with db.write() as s:
            owned, rows = await claims.fence_and_read(
                s, [mine.id, lost.id], [mine_plan, lost_plan], "me"
            )
            assert owned == {mine.id}
            assert [(r.plan_id, r.key, r.state, r.mine) for r in rows] == [
                (mine_plan, "a", StepState.RUNNING, True),
                (mine_plan, "b", StepState.PENDING, False),
                (lost_plan, "a", StepState.RUNNING, False),
                (lost_plan, "b", StepState.PENDING, False),
            ]
            # while this transaction is open, the owned step is locked; the rest is not
            async with other.write() as o:
                free = select(Step.id).where(Step.id != mine.id).with_for_update(nowait=True)
                assert len((await o.scalars(free)).all()) == 3
            with pytest.raises(Exception, match="could not obtain lock"):
                async with other.write() as o:
                    locked = select(Step.id).where(Step.id == mine.id)
                    await o.scalars(locked.with_for_update(nowait=True))
    finally:
        await other.dispose()
