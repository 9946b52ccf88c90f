"""The demo pipeline under load: sandbox org -> Revflow -> sandbox ERP -> write-back.

    python -m bench.bench_pipeline [--orders 300] [--quotes 0] [--database-url URL]
    python -m bench.bench_pipeline --rate 10 [--orders 600] [--unpaced] [--database-url URL]

With a PostgreSQL ``--database-url`` the run uses a scratch database beside the named
one and drops it afterwards (``bench.scratch``).

Bulk (no ``--rate``): creates the orders (and ``--quotes`` Quotes with lines),
activates the orders and approves the Quotes in sObject Collections calls of 200 (as a
bulk activation would), and prints records per second, p50/p95/p99 seconds from
activation (approval) to Completed on the Salesforce record, and Revflow's Salesforce
API calls per record.  Everything runs in one process on one event loop, sandbox
servers included, so the figures are a floor for Revflow itself.

Steady rate (``--rate R``): Revflow runs in its own process (``revflow run``), the
sandbox org and ERP in the bench's, with call pacing on (the default settings,
``salesforce.calls_per_order``) and the production sweep interval.  After a warm-up,
``--orders`` orders are activated one by one, R per second, while orders keep arriving
(more are activated at the same rate until every measured order is Completed; then
they stop and the rest finish, for at most two minutes).  Per measured order: seconds
from activation to the first status and to Completed on the record (the org's field
history), p50/p95/p99.  Revflow's calls are counted by the org from the first measured
activation until every order is done (or the two minutes are over), per 1,000 orders
Completed, beside the floor (one order read and one record update per 200 orders).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
import time
from typing import Any

from bench.scratch import is_postgresql, scratch_database
from revflow.config import SalesforceSettings
from revflow.demo import DemoEnvironment
from revflow.demo.catalog import REVFLOW_APP
from revflow.demo.report import percentile, rounded
from revflow.sandbox.history import FieldHistory

WARMUP = 5


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


def status_times(history: FieldHistory, field: str) -> dict[str, dict[str, float]]:
    """Per Order: when it was first Activated, first had a status, first Completed
    (one pass over the history, commit times)."""
    times: dict[str, dict[str, float]] = {}
    for c in history.changes:
        if c.sobject != "Order":
            continue
        seen = times.setdefault(c.record_id, {})
        if c.field == "Status" and c.new == "Activated":
            seen.setdefault("activated", c.at)
        elif c.field == field and c.new and "activated" in seen:
            seen.setdefault("first", c.at)
            if c.new == "Completed":
                seen.setdefault("completed", c.at)
    return times


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def quantiles(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}_s": rounded(percentile(values, q)) for q in (50, 95, 99)}


async def activate_at_rate(
    env: DemoEnvironment, ids: list[str], rate: float, stop: asyncio.Event | None = None
) -> int:
    """Activate ``ids`` one by one, ``rate`` per second (until ``stop``); how many."""
    start = time.monotonic()
    for n, oid in enumerate(ids):
        if stop is not None and stop.is_set():
            return n
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await env.activate([oid])
    return len(ids)


async def steady(
    orders: int, rate: float, database_url: str | None, paced: bool = True
) -> dict[str, Any]:
    pacing = SalesforceSettings().calls_per_order if paced else 0.0
    overrides = {  # pacing as shipped (or off); the demo's 2-second sweep would add calls
        "salesforce": {"calls_per_order": pacing},
        "reconcile": {"interval_s": 300.0},
    }
    env = DemoEnvironment(
        database_url=database_url, seed=7, separate_process=True, settings_overrides=overrides
    )
    async with env:
        spare = math.ceil(rate * 30) + 50  # arrivals after the window (at most 30 s worth)
        ids = await env.create_orders(WARMUP + orders + spare)
        warmup, measured, tail = ids[:WARMUP], ids[WARMUP : WARMUP + orders], ids[WARMUP + orders :]
        await env.activate(warmup)
        if not await env.wait_until_done(warmup, timeout_s=120, final=("Completed",)):
            raise RuntimeError("Revflow did not finish the warm-up orders")
        note(f"warm-up done; activating {orders} orders at {rate}/s")
        calls_before = env.org.usage.by_app.get(REVFLOW_APP, 0)
        started = time.monotonic()
        await activate_at_rate(env, measured, rate)
        stop = asyncio.Event()
        more = asyncio.create_task(activate_at_rate(env, tail, rate, stop))
        note("window over; waiting for its orders")
        done = await env.wait_until_done(measured, timeout_s=600, final=("Completed",))
        measured_done = time.monotonic() - started
        note(f"measured orders done after {measured_done:.1f} s; draining")
        stop.set()
        extra = await more
        everything = measured + tail[:extra]
        # a backlog (a rate above what Revflow keeps up with) drains for at most 2 minutes
        all_done = await env.wait_until_done(everything, timeout_s=120, final=("Completed",))
        elapsed = time.monotonic() - started
        calls = env.org.usage.by_app.get(REVFLOW_APP, 0) - calls_before
        finished = sum(env.order_status(o) == "Completed" for o in everything)
        status_field = env.settings.writeback.status_field if env.settings else ""
        times = status_times(env.org.history, status_field or "Fulfillment_Status__c")
    seen = [times.get(o, {}) for o in measured]
    first = [t["first"] - t["activated"] for t in seen if "first" in t]
    completed = [t["completed"] - t["activated"] for t in seen if "completed" in t]
    total = finished  # calls per order Completed (all of them, unless a backlog is left)
    floor = 2 * math.ceil(total / 200)  # one order read and one record update per 200
    return {
        "rate": rate,
        "paced": paced,
        "orders": orders,
        "completed": len(completed),
        "all_completed": done and all_done,
        "orders_after_window": extra,
        "window_s": round(measured_done, 2),
        "elapsed_s": round(elapsed, 2),
        "first_status": quantiles(first),
        "completed_status": quantiles(completed),
        "salesforce_api_calls": calls,
        "orders_activated": len(everything),
        "orders_counted": total,
        "calls_per_1000_orders": round(1000 * calls / total, 1) if total else 0.0,
        "floor_per_1000_orders": round(1000 * floor / total, 1) if total else 0.0,
    }


def print_steady(s: dict[str, Any], db: str) -> None:
    f, c = s["first_status"], s["completed_status"]
    print(
        f"pipeline steady: database={db} paced={s['paced']} rate={s['rate']}/s "
        f"orders={s['orders']} "
        f"completed={s['completed']} first_status p50/p95/p99_s="
        f"{f['p50_s']}/{f['p95_s']}/{f['p99_s']} completed p50/p95/p99_s="
        f"{c['p50_s']}/{c['p95_s']}/{c['p99_s']} salesforce_api_calls="
        f"{s['salesforce_api_calls']} for {s['orders_counted']} orders: "
        f"calls_per_1000_orders={s['calls_per_1000_orders']} "
        f"(floor {s['floor_per_1000_orders']})"
    )
    print(json.dumps(s))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=None, help="default 300 bulk, 60 s steady")
    ap.add_argument("--quotes", type=int, default=0)
    ap.add_argument("--rate", type=float, default=None, help="orders/s, one by one")
    ap.add_argument("--unpaced", action="store_true", help="salesforce.calls_per_order 0")
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    db = "postgresql" if is_postgresql(args.database_url) else "sqlite"
    # PostgreSQL: a scratch database beside the one named, dropped afterwards; without
    # a URL the demo environment keeps its SQLite file in a folder it removes itself
    with contextlib.ExitStack() as stack:
        url = None
        if is_postgresql(args.database_url):
            url = stack.enter_context(scratch_database(args.database_url, "pipeline"))
        if args.rate is not None:
            orders = args.orders if args.orders is not None else math.ceil(args.rate * 60)
            result = asyncio.run(steady(orders, args.rate, url, paced=not args.unpaced))
        else:
            orders = args.orders if args.orders is not None else 300
            result = asyncio.run(bench(orders, args.quotes, url))
    if args.rate is not None:
        print_steady(result, db)
        return
    s = result
    print(
        f"pipeline: database={db} orders={s['orders']} completed={s['completed']} "
        f"quotes={s['quotes']} quotes_synced={s['quotes_synced']} "
        f"records_per_s={s['records_per_s']} p50_s={s['latency_p50_s']} "
        f"p95_s={s['latency_p95_s']} p99_s={s['latency_p99_s']} "
        f"quote_p50_s={s['quote_latency_p50_s']} "
        f"quote_p95_s={s['quote_latency_p95_s']} "
        f"salesforce_api_calls={s['salesforce_api_calls']} "
        f"api_calls_per_order={s['api_calls_per_order']} "
        f"api_calls_per_record={s['api_calls_per_record']}"
        + (f" api_calls_per_quote={s['api_calls_per_quote']}" if "api_calls_per_quote" in s else "")
    )
    print(json.dumps(s))


if __name__ == "__main__":
    main()
