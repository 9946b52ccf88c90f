"""Changing orders in flight, end to end.  Status=Cancelled on an activated Order
freezes its plan and ends it Cancelled, or is refused (Completed, with the text);
an amended Order (deactivated, lines changed, activated) re-plans, and the ERP gets
the amended documents."""

from __future__ import annotations

import pytest

from revflow.demo import DemoEnvironment, run_demo
from revflow.plans.ponr import REFUSED

pytestmark = pytest.mark.e2e


async def test_cancelled_orders_end_cancelled_or_refused(database_url):
    async with DemoEnvironment(database_url=database_url, seed=7) as env:
        ids = await env.create_orders(6)
        await env.activate(ids)
        doomed, rest = ids[:3], ids[3:]
        await env.cancel(doomed)
        assert await env.wait_until_done(rest, timeout_s=60, final=("Completed",))
        assert await env.wait_for_cancellations(doomed, timeout_s=60)
        for oid in doomed:
            status = env.order_status(oid)
            assert status == "Cancelled" or (env.order_error(oid) or "").startswith(REFUSED)
        # a cancelled order gets no invoice
        invoices = env.erp.stats()["documents"].get("invoice", {})
        assert all(invoices.get(o) is None for o in doomed if env.order_status(o) == "Cancelled")
        # cancelling a completed order is refused, and the text reaches the Order
        await env.cancel([rest[0]])
        assert await env.wait_for_cancellations([rest[0]], timeout_s=30)
        assert env.order_status(rest[0]) == "Completed"


async def test_demo_cancel_summary():
    summary = await run_demo(5, timeout_s=60, cancel=2, seed=3)
    assert summary.cancelled + summary.cancel_refused == 2
    assert summary.completed - summary.cancel_refused == 3
    assert summary.amended == 0


async def test_amended_orders_end_completed_with_the_new_lines_in_the_erp(database_url):
    async with DemoEnvironment(database_url=database_url, seed=11) as env:
        ids = await env.create_orders(6)
        await env.activate(ids)
        changed, rest = ids[:3], ids[3:]
        await env.amend(changed)
        assert await env.wait_until_done(rest, timeout_s=60, final=("Completed",))
        assert await env.wait_for(
            changed, lambda o: env.amend_applied(o) or env.amend_refused(o), timeout_s=60
        )
        assert all(env.amend_applied(o) for o in changed)  # nothing is past a PONR here
        stats = env.erp.stats()
        assert stats["duplicate_documents"] == []
        # amending a completed order is refused, and the text reaches the Order
        await env.amend([rest[0]])
        assert await env.wait_for([rest[0]], env.amend_refused, timeout_s=30)
        assert not env.amend_applied(rest[0])


async def test_demo_amend_summary():
    summary = await run_demo(5, timeout_s=60, amend=2, seed=5)
    assert summary.amended + summary.amend_refused == 2
    assert summary.completed == 5 and summary.duplicate_deliveries == 0
