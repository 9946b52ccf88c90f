"""Kill a real Revflow process with SIGKILL mid-stream; nothing is lost or applied twice."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from revflow.db.database import Database
from revflow.db.models import Plan, ReceivedEvent
from revflow.demo import DemoEnvironment
from tests.conftest import PG_URL

pytestmark = pytest.mark.e2e

ORDERS = 40


@pytest.mark.parametrize("transport", ["cometd", "pubsub"])
async def test_sigkill_mid_stream_loses_nothing_and_doubles_nothing(database_url, transport):
    async with DemoEnvironment(
        database_url=database_url, seed=11, transport=transport, separate_process=True
    ) as env:
        ids = await env.create_orders(ORDERS)
        assert env.process is not None
        await env.activate(ids[: ORDERS // 2])
        # wait until the process is mid-stream: some plans exist, not all orders done
        for _ in range(200):
            await asyncio.sleep(0.05)
            if any(env.order_status(i) for i in ids):
                break
        await env.process.kill()
        await env.activate(ids[ORDERS // 2 :])  # these events arrive while nobody listens
        await asyncio.sleep(0.5)
        await env.process.start()
        await asyncio.sleep(1.0)
        await env.process.kill()  # and once more, right after a restart
        await env.process.start()
        done = await env.wait_until_done(ids, timeout_s=120, final=("Completed",))
        assert done, await env.explain([i for i in ids if env.order_status(i) != "Completed"])
        assert env.process.kills == 2
        stats = env.erp.stats()
        assert stats["duplicate_documents"] == []
        for doc_type in ("sales_order", "invoice"):
            assert set(stats["documents"][doc_type]) == set(ids)
            assert set(stats["documents"][doc_type].values()) == {1}
        db = Database(database_url)
        async with db.read() as s:
            plans = await s.scalar(select(func.count()).select_from(Plan))
            # one statement: echo events of the last write-backs may still be arriving
            keys, rows = (
                await s.execute(
                    select(func.count(func.distinct(ReceivedEvent.dedupe_key)), func.count())
                )
            ).one()
        await db.dispose()
        assert plans == ORDERS
        assert keys == rows  # every event recorded once


@pytest.mark.timeout(600)
@pytest.mark.parametrize("transport", ["cometd", "pubsub"])
async def test_chaos_completes_every_order_once(database_url, transport):
    """The org drops connections, answers unknown-client, duplicates events, sends gap
    and overflow events, expires replay ids and refuses some write-backs with its own
    validation rule while Revflow is killed and restarted; on PostgreSQL the database
    is also cut away for seconds at a time."""
    overrides = {"worker": {"initial_interval_s": 0.2, "maximum_interval_s": 2.0}}
    async with DemoEnvironment(
        database_url=database_url,
        seed=21,
        transport=transport,
        separate_process=True,
        erp_fail_share=0.1,
        settings_overrides=overrides,
        database_proxy=bool(PG_URL),
    ) as env:
        ids = await env.create_orders(30)
        # the org refuses status Completed on these: they must end showing the refusal
        held = ids[-3:]
        env.refuse_completion(held)
        env.start_chaos(kill_every_s=(1.0, 3.0), max_kills=3)
        await env.activate(ids)
        # changes in flight too: lost change events must be recovered like activations
        cancelled, amended, rest = ids[:3], ids[3:7], ids[7:-3]
        await env.cancel(cancelled)
        await env.amend(amended[:2], in_place=True)
        await env.amend(amended[2:])
        done = await env.wait_until_done(rest, timeout_s=180, final=("Completed",))
        assert done, await env.explain([o for o in rest if env.order_status(o) != "Completed"])
        assert await env.wait_for(held, env.refusal_shown, timeout_s=120), await env.explain(held)
        assert await env.wait_for(cancelled, env.cancel_settled, timeout_s=120), await env.explain(
            cancelled
        )
        assert await env.wait_for(
            amended, lambda o: env.amend_applied(o) or env.amend_refused(o), timeout_s=120
        ), await env.explain(amended)
        summary = env.summary(ids, 1.0)
        documents = env.erp.stats()["documents"]
    assert summary.duplicate_deliveries == 0
    for oid in rest + held:  # one sales order and one invoice per unchanged order
        assert documents["sales_order"][oid] == documents["invoice"][oid] == 1
    assert summary.faults_injected.get("writeback_refused", 0) >= len(held)
    assert summary.faults_injected.get("consumer_killed", 0) >= 1
    assert summary.faults_injected.get("duplicate_event", 0) >= 1
    if PG_URL:
        assert summary.faults_injected.get("database_outage", 0) >= 1
