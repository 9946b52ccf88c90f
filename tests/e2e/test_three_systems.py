"""One plan, three systems, over real servers: the shipped ``order_to_three_systems``.

Each order goes to a real Tryton server (the sales order), to the local RabbitMQ (a
pick request for the warehouse, publisher confirms) and to an accounting webhook (the
invoice).  The warehouse is down first (its queue off the exchange: publishes come back
unroutable), then the accounting system (503 to everything); each recovers, and every
system ends with exactly one document per order.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

pytest.importorskip("trytond")

from revflow.db.models import Step  # noqa: E402
from revflow.demo import DemoEnvironment, run_demo  # noqa: E402
from revflow.demo.report import verdict  # noqa: E402


def _rabbitmq_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1.0):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _rabbitmq_up(), reason="RabbitMQ is not reachable on 127.0.0.1:5672"),
]

OVERRIDES = {"worker": {"initial_interval_s": 0.2, "maximum_interval_s": 1.0, "max_attempts": 30}}


async def until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def failed_attempts(env: DemoEnvironment, key: str) -> list[tuple[int, str | None]]:
    assert env.revflow is not None
    async with env.revflow.db.read() as session:
        rows = await session.execute(select(Step.attempts, Step.error).where(Step.key == key))
        return [(n, e) for n, e in rows.all()]


async def test_one_order_to_three_systems_through_outages_without_duplicates(database_url):
    async with DemoEnvironment(
        database_url=database_url,
        seed=12,
        erp="tryton",
        plan="order_to_three_systems",
        settings_overrides=OVERRIDES,
    ) as env:
        warehouse, accounting, tryton = env.warehouse, env.accounting, env.tryton
        assert warehouse is not None and accounting is not None and tryton is not None
        await warehouse.unbind()  # the warehouse is down
        accounting.set_faults(fail_share=1.0)  # and so is accounting
        ids = await env.create_orders(4)
        await env.activate(ids)

        # the sales orders go through while every pick request is refused, again and again
        sales: dict[str, list[str]] = {}

        async def picks_refused() -> bool:
            rows = await failed_attempts(env, "request_picking")
            return len(rows) == len(ids) and all(n >= 2 and e for n, e in rows)

        deadline = time.monotonic() + 120
        while not (await picks_refused() and len(sales) == len(ids)):
            assert time.monotonic() < deadline, "the warehouse outage was never seen"
            sales = await asyncio.to_thread(tryton.sales_by_reference)
            await asyncio.sleep(0.2)
        errors = {e for _, e in await failed_attempts(env, "request_picking")}
        assert all("unroutable" in (e or "").lower() or "returned" in (e or "") for e in errors)
        assert warehouse.requests == {}
        await warehouse.bind()  # the warehouse is back

        # now the invoices reach accounting, which refuses them for a while
        await until(lambda: len(warehouse.orders()) == len(ids), 60, "the pick requests")
        await until(lambda: accounting.stats()["failed"] >= 2 * len(ids), 60, "refusals")
        assert accounting.stats()["created"] == 0
        accounting.set_faults(fail_share=0.0)  # accounting is back

        assert await env.wait_until_done(ids, timeout_s=120, final=("Completed", "Failed"))
        assert [env.order_status(i) for i in ids] == ["Completed"] * len(ids), [
            env.order_error(i) for i in ids
        ]

        sales = await asyncio.to_thread(tryton.sales_by_reference)
        orders = env.org.records["Order"]
        for oid in ids:
            (number,) = sales[oid]  # one sale per order in Tryton
            assert orders[oid]["ERP_Order_Number__c"] == number
        assert warehouse.orders() == dict.fromkeys(ids, 1)  # one pick request per order
        invoices = accounting.stats()
        assert invoices["duplicate_documents"] == []
        assert invoices["documents"]["invoice"] == dict.fromkeys(ids, 1)

        summary = env.summary(ids, 1.0)
        assert summary.systems["warehouse"]["duplicate_orders"] == 0
        assert summary.systems["accounting"]["failed_attempts"] >= 2 * len(ids)
        assert verdict(summary, 0, 0) is None


async def test_run_demo_with_the_three_systems_plan(tmp_path):
    summary = await run_demo(3, timeout_s=120, erp="tryton", seed=8, plan="order_to_three_systems")
    assert (summary.completed, summary.duplicate_deliveries) == (3, 0)
    assert summary.systems["warehouse"]["documents"] == 3
    assert summary.systems["accounting"]["documents"] == 3
    assert verdict(summary, 0, 0) is None
