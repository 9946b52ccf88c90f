"""LISTEN/NOTIFY wakeups against a real PostgreSQL (skipped on SQLite: it has none)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text, update

from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.models import Step, StepState
from revflow.db.notify import STEPS_CHANNEL, Listener, ListenerLost
from tests.plankit import insert_plan

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    return db


Running = tuple[Listener, asyncio.Event, asyncio.Event, asyncio.Task[None]]


async def listening(pg: Database) -> Running:
    listener = Listener(pg.engine, check_s=0.2)
    woken, stop = asyncio.Event(), asyncio.Event()
    listener.subscribe(STEPS_CHANNEL, woken)
    task = asyncio.create_task(listener.run(stop))
    async with asyncio.timeout(10):
        while not listener.listening:  # noqa: ASYNC110 - the listener's task sets it
            await asyncio.sleep(0.01)
    woken.clear()  # set once on connecting: the loops look for what they missed
    return listener, woken, stop, task


async def test_a_plan_with_ready_steps_notifies_at_commit(pg: Database) -> None:
    listener, woken, stop, task = await listening(pg)
    await insert_plan(pg, [{"key": "a"}, {"key": "b", "depends_on": ["a"]}])
    async with asyncio.timeout(10):
        await woken.wait()
    assert listener.received == 1  # one notification per transaction, not per step
    stop.set()
    await task


async def test_steps_that_are_not_due_notify_nothing(pg: Database) -> None:
    plan_id = await insert_plan(pg, [{"key": "a"}])
    listener, woken, stop, task = await listening(pg)
    async with pg.write() as s:  # claimed (running), then a retry due in an hour
        await s.execute(update(Step).values(state=StepState.RUNNING))
        await s.execute(
            update(Step).values(state=StepState.RETRYING, due_at=utcnow().replace(year=2100))
        )
    async with pg.write() as s:  # made due now: notifies
        await s.execute(update(Step).where(Step.plan_id == plan_id).values(due_at=utcnow()))
    async with asyncio.timeout(10):
        await woken.wait()
    assert listener.received == 1
    stop.set()
    await task


async def test_the_listener_raises_when_its_connection_is_cut(pg: Database) -> None:
    listener, woken, stop, task = await listening(pg)
    async with pg.write() as s:  # as a database restart does (this test's own connections)
        await s.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    with pytest.raises(ListenerLost):
        async with asyncio.timeout(10):
            await task
    assert not listener.listening
    assert woken.is_set()  # the loops poll at once (and fast) while it reconnects
