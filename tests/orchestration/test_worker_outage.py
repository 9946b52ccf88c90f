"""A step that finishes while PostgreSQL is cut away: its outcome is kept, its lease held,
and it is committed when the database is back, without running the step again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from revflow.connectors.base import CallResult
from revflow.db.database import Database
from revflow.plans.retry import RetryPolicy
from revflow.sandbox.tcp_proxy import TcpProxy
from revflow.supervisor import Supervisor
from tests.conftest import PG_URL
from tests.plankit import insert_plan, make_worker, states

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="cutting the database away needs PostgreSQL (REVFLOW_TEST_DATABASE_URL)"
)


async def test_outcome_finished_during_an_outage_is_committed_once(
    database_url: str, db: Database
) -> None:
    plan_id = await insert_plan(
        db, [{"key": "so", "kind": "callout", "action": "sales_order.create"}]
    )
    proxy = TcpProxy.for_url(database_url)
    await proxy.start()
    proxied = Database(proxy.proxied(database_url))
    calling = asyncio.Event()
    finish = asyncio.Event()
    calls: list[str] = []

    async def erp(action, payload, ctx):  # type: ignore[no-untyped-def]
        calls.append(ctx.idempotency_key)
        calling.set()
        await finish.wait()
        return CallResult(external_id="SO-1")

    worker = make_worker(proxied, erp)
    worker.lease = timedelta(seconds=3)  # shorter than the outage
    supervisor = Supervisor(RetryPolicy(initial_interval_s=0.1, maximum_interval_s=0.5))
    for name, (loop, interval_s) in worker.loops().items():
        supervisor.add(name, loop, interval_s=interval_s)
    stop = asyncio.Event()
    supervisor.start(stop)
    try:
        await asyncio.wait_for(calling.wait(), 30)
        await proxy.cut()
        finish.set()  # the ERP answers while the database is away
        for _ in range(100):
            await asyncio.sleep(0.05)
            if "worker_commits" in supervisor.report().down:
                break
        assert "worker_commits" in supervisor.report().down
        await asyncio.sleep(4)  # longer than the lease: the claim must not run it again
        await proxy.restore()
        for _ in range(300):
            await asyncio.sleep(0.05)
            _plan, steps = await states(db, plan_id)
            if steps["so"].state == "completed":
                break
        assert steps["so"].state == "completed"
        assert (steps["so"].output or {}).get("external_id") == "SO-1"
        assert len(calls) == 1  # committed, not run again
    finally:
        stop.set()
        await supervisor.wait(10)
        await proxied.dispose()
        await proxy.close()


async def test_a_hung_connection_makes_loops_stale_until_it_flows_again(
    database_url: str,
) -> None:
    """A partition hangs statements instead of failing them: the loops stop beating,
    the supervisor reports them stale, and they carry on when the line flows again."""
    proxy = TcpProxy.for_url(database_url)
    await proxy.start()
    proxied = Database(proxy.proxied(database_url))
    worker = make_worker(proxied)
    supervisor = Supervisor(stale_after_s=1.0)
    for name, (loop, interval_s) in worker.loops().items():
        supervisor.add(name, loop, interval_s=interval_s)
    stop = asyncio.Event()
    supervisor.start(stop)
    try:
        for _ in range(100):
            await asyncio.sleep(0.05)
            if supervisor.health("worker").state == "up":
                break
        proxy.stall()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if "worker" in supervisor.report().stale:
                break
        report = supervisor.report()
        assert "worker" in report.stale and report.down == [], report
        assert "worker_commits" not in report.stale  # idle, and it needs no database
        proxy.resume()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if supervisor.report().ok:
                break
        assert supervisor.report().ok, supervisor.report()
    finally:
        stop.set()
        await supervisor.wait(10)
        await proxied.dispose()
        await proxy.close()
