"""The orders list, CSV export, fallout queue and plan page queries at scale.

    python -m bench.bench_pages [--plans 100000] [--database-url URL]

Fills an empty database as ``bench.bench_console`` does (plus a connector call with an
ERP number for every tenth plan) and prints each page's queries' time, the best of
three runs.  Without a URL it runs on a scratch SQLite file;
a PostgreSQL URL names the server: the run
uses a scratch database beside the named one and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.bench_console import best_of, fill
from bench.scratch import scratch_database
from revflow.console import fallout_repository, orders_repository, plan_repository
from revflow.console.orders import export_rows
from revflow.console.orders_repository import OrderFilter
from revflow.db.database import Database
from revflow.db.engine import is_sqlite
from revflow.db.migrate import upgrade
from revflow.db.models import ConnectorCall, Plan, Step
from revflow.orchestration import repository


async def erp_numbers(db: Database) -> None:
    """A sales order number on the first step of every tenth plan."""
    async with db.write() as s:
        rows = (
            await s.execute(
                select(Step.id, Step.plan_id).where(Step.position == 0, Step.plan_id % 10 == 0)
            )
        ).all()
        await s.execute(
            insert(ConnectorCall),
            [
                {
                    "step_id": r.id,
                    "connector": "erp",
                    "action": "sales_order.create",
                    "idempotency_key": f"k-{r.id}",
                    "correlation_id": f"c-{r.plan_id}",
                    "status": "succeeded",
                    "external_id": f"SO-{r.plan_id:07d}",
                }
                for r in rows
            ],
        )
        await s.execute(text("ANALYZE"))


def page(f: OrderFilter, number: int = 1) -> Callable[[AsyncSession], Awaitable[object]]:
    return lambda s: orders_repository.list_orders(s, f, offset=(number - 1) * 50, limit=50)


async def plan_page(s: AsyncSession, plan_id: int) -> None:
    plan = await repository.get_plan(s, plan_id)
    assert plan is not None
    steps = await repository.plan_steps(s, plan_id)
    await plan_repository.attempts_of_steps(s, [st.id for st in steps])
    await plan_repository.revisions(s, plan.order_id)
    await repository.plan_audit(s, plan_id)


async def export(db: Database, f: OrderFilter) -> tuple[float, int]:
    start, rows = time.perf_counter(), 0
    async for chunk in export_rows(db, f):
        rows += chunk.count("\n")
    return time.perf_counter() - start, rows - 1


async def main(url: str, plans: int) -> None:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        async with db.read() as s:
            if await s.scalar(text("SELECT count(*) FROM plans")):
                raise SystemExit("bench_pages needs an empty database")
        took = await fill(db, plans)
        await erp_numbers(db)
        print(
            f"{'SQLite' if is_sqlite(url) else 'PostgreSQL'}: {plans} plans filled in {took:.0f} s"
        )
        async with db.read() as s:
            some = await s.scalar(select(Plan.order_id).where(Plan.id == plans // 2))
            on_hold = await s.scalar(select(Plan.id).where(Plan.state == "on_hold").limit(1))
        views: dict[str, Callable[[AsyncSession], Awaitable[object]]] = {
            "orders, page 1": page(OrderFilter()),
            "orders, page 1000": page(OrderFilter(), 1000),
            "orders, state on_hold": page(OrderFilter(state="on_hold")),
            "orders, region FR, channel Renewal": page(OrderFilter(region="FR", channel="Renewal")),
            "orders, search an order id prefix": page(OrderFilter(q=str(some)[:12])),
            "orders, search an ERP number": page(OrderFilter(q=f"SO-{plans // 2:07d}")),
            "fallout queue (500 oldest)": lambda s: fallout_repository.failed_steps(s),
            "plan page": lambda s: plan_page(s, on_hold or 1),
        }
        for name, run in views.items():
            print(f"  {name:<40} {await best_of(db, run) * 1000:8.1f} ms")
        took, rows = await export(db, OrderFilter())
        print(f"  {'CSV export, every plan':<40} {took * 1000:8.1f} ms ({rows} rows)")
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plans", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with scratch_database(args.database_url, "pages") as url:
        asyncio.run(main(url, args.plans))
