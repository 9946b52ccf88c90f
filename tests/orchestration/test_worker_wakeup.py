"""The worker woken by notifications (PostgreSQL), and its timer for steps due later."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from revflow.clock import utcnow
from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult, FakeConnector
from revflow.connectors.errors import FatalError
from revflow.db.database import Database
from revflow.db.models import Step, StepState
from revflow.db.notify import Listener
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.worker import Worker
from revflow.orchestration.worker.wakeup import next_due_in
from tests.plankit import insert_plan, states

pytestmark = pytest.mark.timeout(60)
HOUR = 3600.0


async def _started(worker: Worker, listener: Listener) -> tuple[asyncio.Event, asyncio.Task[None]]:
    """The worker running, once its listener listens; its stop event and task."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    async with asyncio.timeout(10):
        while not listener.listening:  # noqa: ASYNC110 - the listener's task sets it
            await asyncio.sleep(0.01)
    return stop, task


async def test_a_notification_wakes_a_worker_that_would_poll_in_an_hour(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    listener = Listener(db.engine)
    worker = Worker(
        db,
        StepExecutor({"erp": FakeConnector(lambda *a: CallResult(external_id="X"))}),
        {},
        WritebackSettings(),
        poll_interval_s=0.05,  # used only while the listener is down
        idle_poll_s=HOUR,
        listener=listener,
    )
    stop, task = await _started(worker, listener)
    await asyncio.sleep(0.2)  # the worker has claimed nothing and sleeps for the hour
    plan_id = await insert_plan(db, [{"key": "a"}, {"key": "b", "depends_on": ["a"]}])
    async with asyncio.timeout(20):
        while (await states(db, plan_id))[1]["b"].state != StepState.COMPLETED:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert listener.listening and listener.received >= 1
    stop.set()
    await task


async def test_the_timer_is_the_next_steps_due_time_at_most_the_fallback(db: Database) -> None:
    assert await next_due_in(db, 2.0) == 2.0  # nothing waits
    plan_id = await insert_plan(db, [{"key": "a"}])
    async with db.write() as s:
        due = utcnow() + timedelta(seconds=30)
        await s.execute(
            update(Step).where(Step.plan_id == plan_id).values(state=StepState.RETRYING, due_at=due)
        )
    assert await next_due_in(db, 2.0) == 2.0
    assert 25.0 < await next_due_in(db, HOUR) <= 30.0


async def test_a_full_worker_claims_again_when_a_step_fails(db: Database) -> None:
    """Its one slot freed by a failure (not a completion, which wakes it anyway), a
    worker that would poll in an hour claims the step that became due meanwhile."""
    if db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    called, go_on = asyncio.Event(), asyncio.Event()

    async def erp(action: str, payload: object, ctx: object) -> CallResult:
        called.set()
        await go_on.wait()
        raise FatalError("refused")

    listener = Listener(db.engine)
    worker = Worker(
        db,
        StepExecutor({"erp": FakeConnector(erp)}),
        {},
        WritebackSettings(),
        concurrency=1,
        poll_interval_s=0.05,
        idle_poll_s=HOUR,
        listener=listener,
    )
    stop, task = await _started(worker, listener)
    first = await insert_plan(db, [{"key": "a", "kind": "callout", "action": "x"}], "801A")
    async with asyncio.timeout(10):
        await called.wait()
    second = await insert_plan(db, [{"key": "a", "kind": "callout", "action": "x"}], "801B")
    go_on.set()
    async with asyncio.timeout(20):
        while (await states(db, second))[1]["a"].state != StepState.FAILED:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert (await states(db, first))[1]["a"].state == StepState.FAILED
    stop.set()
    await task
