"""The demo pipeline under load: sandbox org -> Revflow -> sandbox ERP -> write-back.

    python bench/bench_pipeline.py [--orders 300] [--database-url URL]

Creates the orders, activates them in sObject Collections calls of 200 (as a bulk
activation would), and prints orders per second, p50/p95 seconds from activation
to Completed on the Salesforce record, and Revflow's Salesforce API calls per order.
Everything runs in one process on one event loop, sandbox servers included, so the
figures are a floor for Revflow itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time

from revflow.demo import DemoEnvironment


async def bench(orders: int, database_url: str | None) -> dict[str, object]:
    async with DemoEnvironment(database_url=database_url, seed=7) as env:
        ids = await env.create_orders(orders)
        started = time.monotonic()
        await env.activate(ids)
        done = await env.wait_until_done(ids, timeout_s=600, final=("Completed",))
        elapsed = time.monotonic() - started
        summary = env.summary(ids, elapsed).as_dict()
        summary["all_completed"] = done
        return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    if args.database_url and args.database_url.startswith("postgresql"):
        from bench.bench_steps import reset

        asyncio.run(reset(args.database_url))
    s = asyncio.run(bench(args.orders, args.database_url))
    db = "postgresql" if (args.database_url or "").startswith("postgresql") else "sqlite"
    print(
        f"pipeline: database={db} orders={s['orders']} completed={s['completed']} "
        f"orders_per_s={s['orders_per_s']} p50_s={s['latency_p50_s']} p95_s={s['latency_p95_s']} "
        f"salesforce_api_calls={s['salesforce_api_calls']} "
        f"api_calls_per_order={s['api_calls_per_order']}"
    )
    print(json.dumps(s))


if __name__ == "__main__":
    main()
