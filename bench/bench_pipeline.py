"""The demo pipeline under load: sandbox org -> Revflow -> sandbox ERP -> write-back.

    python -m bench.bench_pipeline [--orders 300] [--quotes 0] [--database-url URL]

Creates the orders (and ``--quotes`` Quotes with lines), activates the orders and
approves the Quotes in sObject Collections calls of 200 (as a bulk activation would),
and prints records per second, p50/p95 seconds from activation (approval) to Completed
on the Salesforce record, and Revflow's Salesforce API calls per record.  With
``--orders 0`` the calls are all the Quotes': ``api_calls_per_quote``; with
``--quotes 0`` all the Orders': ``api_calls_per_order``.
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


async def bench(orders: int, quotes: int, database_url: str | None) -> dict[str, object]:
    async with DemoEnvironment(database_url=database_url, seed=7, quotes=quotes > 0) as env:
        ids = await env.create_orders(orders) if orders else []
        quote_ids = await env.create_quotes(quotes) if quotes else []
        started = time.monotonic()
        await env.activate(ids)
        await env.approve(quote_ids)
        done = await env.wait_until_done(ids, timeout_s=600, final=("Completed",))
        done = await env.wait_for(quote_ids, env.quote_synced, timeout_s=600) and done
        elapsed = time.monotonic() - started
        summary = env.add_quotes(env.summary(ids, elapsed), quote_ids).as_dict()
        summary["all_completed"] = done
        summary["records_per_s"] = round((orders + quotes) / elapsed, 2) if elapsed else 0.0
        if not orders and quotes:
            summary["api_calls_per_quote"] = summary["api_calls_per_record"]
        return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--quotes", type=int, default=0)
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    if args.database_url and args.database_url.startswith("postgresql"):
        from bench.bench_steps import reset

        asyncio.run(reset(args.database_url))
    s = asyncio.run(bench(args.orders, args.quotes, args.database_url))
    db = "postgresql" if (args.database_url or "").startswith("postgresql") else "sqlite"
    print(
        f"pipeline: database={db} orders={s['orders']} completed={s['completed']} "
        f"quotes={s['quotes']} quotes_synced={s['quotes_synced']} "
        f"records_per_s={s['records_per_s']} p50_s={s['latency_p50_s']} "
        f"p95_s={s['latency_p95_s']} quote_p50_s={s['quote_latency_p50_s']} "
        f"quote_p95_s={s['quote_latency_p95_s']} "
        f"salesforce_api_calls={s['salesforce_api_calls']} "
        f"api_calls_per_order={s['api_calls_per_order']} "
        f"api_calls_per_record={s['api_calls_per_record']}"
        + (f" api_calls_per_quote={s['api_calls_per_quote']}" if "api_calls_per_quote" in s else "")
    )
    print(json.dumps(s))


if __name__ == "__main__":
    main()
