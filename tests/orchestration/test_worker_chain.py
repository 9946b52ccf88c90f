"""Chaining: a commit leases the successors its outcomes made due to the same worker,
which runs them without a claim; every guarantee of a claimed step still holds."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from sqlalchemy import update

from revflow.clock import utcnow
from revflow.connectors.base import CallResult
from revflow.db.models import Step
from revflow.orchestration.executor import Outcome, StepResult
from revflow.orchestration.worker.commit import CHAIN_MAX
from tests.plankit import insert_plan, make_worker, states

CHAIN: list[dict[str, Any]] = [
    {"key": "a", "kind": "callout", "action": "ok"},
    {"key": "b", "kind": "callout", "action": "ok", "depends_on": ["a"]},
    {"key": "c", "kind": "callout", "action": "ok", "depends_on": ["b"]},
]


def recording(calls: list[tuple[str, int]]) -> Any:
    def erp(action: str, payload: Any, ctx: Any) -> CallResult:
        calls.append((ctx.idempotency_key, ctx.attempt))
        return CallResult(external_id=f"EXT-{ctx.idempotency_key}")

    return erp


async def test_a_commit_leases_the_successor_to_the_same_worker(db):
    plan_id = await insert_plan(db, CHAIN)
    w = make_worker(db)
    [a] = await w.claim(10)
    kept, chained = await w.commits.commit([(a, await w.executor.run(a))], chain=1)
    assert kept == [True]
    assert [(c.key, c.attempt, c.chained) for c in chained] == [("b", 1, 1)]
    _, steps = await states(db, plan_id)
    assert steps["b"].state == "running" and steps["b"].lease_owner == "w1"
    assert steps["b"].attempts == 1
    assert await w.claim(10) == []  # leased: no other claim takes it


async def test_without_a_chain_the_successor_stays_ready_for_any_claim(db):
    plan_id = await insert_plan(db, CHAIN)
    w = make_worker(db)
    [a] = await w.claim(10)
    kept, chained = await w.commits.commit([(a, await w.executor.run(a))], chain=0)
    assert (kept, chained) == ([True], [])
    _, steps = await states(db, plan_id)
    assert steps["b"].state == "ready" and steps["b"].lease_owner is None
    assert [c.key for c in await make_worker(db, owner="w2").claim(10)] == ["b"]


async def test_a_plan_chained_chain_max_times_goes_back_to_the_claim(db):
    plan_id = await insert_plan(db, CHAIN)
    w = make_worker(db)
    [a] = await w.claim(10)
    long_chain = replace(a, chained=CHAIN_MAX)
    _, chained = await w.commits.commit([(long_chain, await w.executor.run(a))], chain=1)
    assert chained == []
    _, steps = await states(db, plan_id)
    assert steps["b"].state == "ready"


async def test_a_chained_step_runs_once_when_its_worker_dies_after_the_commit(db):
    calls: list[tuple[str, int]] = []
    plan_id = await insert_plan(db, CHAIN)
    w1 = make_worker(db, recording(calls), owner="w1")
    [a] = await w1.claim(10)
    _, [b] = await w1.commits.commit([(a, await w1.executor.run(a))], chain=1)
    # w1 dies before running b: its lease lapses, another worker takes b over
    async with db.write() as s:
        await s.execute(update(Step).where(Step.id == b.id).values(lease_expires_at=utcnow()))
    w2 = make_worker(db, recording(calls), owner="w2")
    assert await w2.run_until_idle() == 2  # b again, then c
    # had w1 only been slow, its outcome of b is refused: w2 ran b, the lease moved on
    assert await w1.complete(b, StepResult(Outcome.COMPLETED)) is False
    plan, steps = await states(db, plan_id)
    assert plan.state == "completed"
    assert {k: (st.state, st.attempts) for k, st in steps.items()} == {
        "a": ("completed", 1),
        "b": ("completed", 2),
        "c": ("completed", 1),
    }
    # b ran once, by w2, as attempt 2 with the key w1 was given (a redelivery to the ERP)
    assert [(key, attempt) for key, attempt in calls if key == b.idempotency_key] == [
        (b.idempotency_key, 2)
    ]
    assert len(calls) == 3


async def test_the_running_worker_chains_each_plan_after_its_first_claim(db):
    plan_ids = [await insert_plan(db, CHAIN, order_id=f"80100000000000{i}AAA") for i in range(3)]
    w = make_worker(db)
    w.concurrency = 3
    claimed: list[str] = []
    claim = w.claim

    async def counting(limit: int) -> Any:
        got = await claim(limit)
        claimed.extend(c.key for c in got)
        return got

    w.claim = counting  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(w.run(stop))
    for _ in range(200):
        if w.executed == 9:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert w.executed == 9
    assert sorted(claimed) == ["a", "a", "a"]  # b and c were chained, never claimed
    for plan_id in plan_ids:
        plan, steps = await states(db, plan_id)
        assert plan.state == "completed"
        assert all(st.attempts == 1 for st in steps.values())
