"""Step executions per second with an instant connector, through the real worker.

    python bench/bench_steps.py [--plans 500] [--database-url URL] [--workers 1]

Creates plans of three dependent steps and runs the worker(s) until all plans are
final; prints step executions per second.  With --workers N > 1 it starts N worker
processes against the same database (PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time

from sqlalchemy import func, select, text

from app.config import WritebackSettings
from app.db.database import Database
from app.db.migrate import upgrade
from app.db.models import Plan, PlanState
from app.orchestration.decompose import decompose
from app.orchestration.definitions import order_fulfillment
from app.orchestration.executor import StepExecutor
from app.orchestration.plans import create_plan
from app.orchestration.worker import Worker
from connectors.base import CallResult, FakeConnector


class Doc:
    content_hash = "bench"

    def apply(self, record):  # type: ignore[no-untyped-def]
        return {"external_id": record["Id"]}


async def seed(url: str, plans: int) -> None:
    db = Database(url)
    definition = order_fulfillment()
    mappings = {"order_to_sales_order": Doc(), "order_to_invoice": Doc()}
    async with db.write() as s:
        for i in range(plans):
            order = {"Id": f"801{i:012d}AAA", "OrderItems": []}
            await create_plan(s, decompose(definition, order, mappings), order, WritebackSettings())
    await db.dispose()


async def work(url: str, concurrency: int) -> int:
    db = Database(url)
    definition = order_fulfillment()
    connector = FakeConnector(lambda action, payload, ctx: CallResult(external_id="X"))
    worker = Worker(
        db,
        StepExecutor({"erp": connector}),
        {definition.name: definition},
        WritebackSettings(),
        concurrency=concurrency,
        poll_interval_s=0.01,
    )
    stop = asyncio.Event()

    async def watch() -> None:
        while True:
            async with db.read() as s:
                open_plans = await s.scalar(
                    select(func.count())
                    .select_from(Plan)
                    .where(Plan.state == PlanState.IN_PROGRESS)
                )
            if not open_plans:
                stop.set()
                return
            await asyncio.sleep(0.05)

    await asyncio.gather(worker.run(stop), watch())
    await db.dispose()
    return worker.executed


def _process(url: str, concurrency: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(work(url, concurrency)))


async def reset(url: str) -> None:
    if url.startswith("postgresql"):
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plans", type=int, default=500)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.sqlite"
    asyncio.run(reset(url))
    upgrade(url)
    asyncio.run(seed(url, args.plans))
    started = time.perf_counter()
    if args.workers == 1:
        executed = asyncio.run(work(url, args.concurrency))
    else:
        q: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
        procs = [
            multiprocessing.Process(target=_process, args=(url, args.concurrency, q))
            for _ in range(args.workers)
        ]
        for p in procs:
            p.start()
        executed = sum(q.get() for _ in procs)
        for p in procs:
            p.join()
    elapsed = time.perf_counter() - started
    kind = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(
        f"steps: database={kind} workers={args.workers} plans={args.plans} "
        f"executed={executed} elapsed_s={elapsed:.2f} steps_per_s={executed / elapsed:.0f}"
    )


if __name__ == "__main__":
    main()
