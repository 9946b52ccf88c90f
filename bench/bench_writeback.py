"""Salesforce API calls per 1,000 orders at a steady arrival rate, through the full pipeline.

    python -m bench.bench_writeback [--orders 1000] [--rate 50] [--flush-interval S]
                                    [--max-delay S] [--batch-delay S] [--database-url URL]

Creates the orders in the sandbox org, then activates them at a steady rate (one
sObject Collections call per tick, as users or an integration would), and waits
until every Order reads Completed, watching from before the first activation.
Prints Revflow's own Salesforce API calls per 1,000 orders (all of them: intake
reads, write-back, sweeps), the write-back part, the floor of one call per 200
coalesced record updates, and the ratios.

The floor: every Order needs at least one update (its final status), so 1,000
orders need at least 1,000 / 200 = 5 write calls.  ``floor_sent`` is the same
bound over the coalesced record updates the flusher actually sent.
Latency per order, p50/p95/p99: from the org's field history (activation committed ->
status committed on the record), and as watched (the activation call -> the watch,
polling every 50 ms, seeing Completed).  ``--database-url`` names a PostgreSQL server:
the run uses a scratch database beside the named one and drops it afterwards.
Figures only; nothing here asserts timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import time
from typing import Any

from bench.scratch import is_postgresql, scratch_database
from revflow.config import ReconcileSettings, WritebackSettings
from revflow.demo import REVFLOW_APP, DemoEnvironment
from revflow.demo.report import percentile, rounded

FLOOR_RECORDS_PER_CALL = 200


def watched_latencies(
    activated_at: dict[str, float], finished_at: dict[str, float], ids: list[str]
) -> list[float]:
    """Seconds from each order's activation call to the watch seeing it Completed."""
    return [finished_at[o] - activated_at[o] for o in ids if o in finished_at and o in activated_at]


async def bench(
    orders: int,
    rate: float,
    database_url: str | None,
    writeback: dict[str, Any],
    batch_delay_s: float = 0.0,
) -> dict[str, Any]:
    # Revflow's own defaults, not the demo's quicker ones (it flushes every 0.25 s and
    # sweeps every 2 s); the command line may override the write-back settings
    defaults = WritebackSettings()
    writeback = {
        "flush_interval_s": defaults.flush_interval_s,
        "max_delay_s": defaults.max_delay_s,
        **writeback,
    }
    overrides: dict[str, Any] = {
        "writeback": writeback,
        "reconcile": {"interval_s": ReconcileSettings().interval_s},
        "ingest": {"batch_delay_s": batch_delay_s},
    }
    async with DemoEnvironment(
        database_url=database_url, seed=7, settings_overrides=overrides
    ) as env:
        ids = await env.create_orders(orders)
        revflow = env.revflow
        assert revflow is not None, "the benchmark runs Revflow in-process"
        # what Revflow spent before the first activation (start-up, empty sweeps)
        before = env.org.usage.by_app.get(REVFLOW_APP, 0)
        before_kinds = dict(revflow.salesforce.usage.by_kind)
        before_calls = revflow.flusher.calls
        before_records = revflow.flusher.records_sent
        tick = 0.1
        per_tick = max(1, round(rate * tick))
        # the watch runs from before the first activation, so an order that completes
        # while later ones are still being activated is stamped when it completes
        watch = asyncio.create_task(env.wait_until_done(ids, timeout_s=600, final=("Completed",)))
        started = time.monotonic()
        try:
            for n, start in enumerate(range(0, len(ids), per_tick)):
                await asyncio.sleep(max(0.0, started + n * tick - time.monotonic()))
                await env.activate(ids[start : start + per_tick])
            activated_s = time.monotonic() - started
            done = await watch
        finally:
            watch.cancel()
        elapsed = time.monotonic() - started
        watched = watched_latencies(env.activated_at, env.finished_at, ids)
        calls = env.org.usage.by_app.get(REVFLOW_APP, 0) - before
        kinds = {
            k: v - before_kinds.get(k, 0)
            for k, v in revflow.salesforce.usage.by_kind.items()
            if v - before_kinds.get(k, 0)
        }
        wb_calls = revflow.flusher.calls - before_calls
        records = revflow.flusher.records_sent - before_records
        summary = env.summary(ids, elapsed)
    per_k = 1000 / len(ids)
    floor = len(ids) / FLOOR_RECORDS_PER_CALL
    floor_sent = math.ceil(records / FLOOR_RECORDS_PER_CALL) if records else 0
    return {
        "orders": len(ids),
        "rate_per_s": round(len(ids) / activated_s, 1) if activated_s else None,
        "all_completed": done,
        "elapsed_s": round(elapsed, 2),
        "latency_p50_s": summary.latency_p50_s,
        "latency_p95_s": summary.latency_p95_s,
        "latency_p99_s": summary.latency_p99_s,
        "watched_p50_s": rounded(percentile(watched, 50)),
        "watched_p95_s": rounded(percentile(watched, 95)),
        "watched_p99_s": rounded(percentile(watched, 99)),
        "writeback": writeback,
        "batch_delay_s": batch_delay_s,
        "calls_per_1000": round(calls * per_k, 1),
        "writeback_calls_per_1000": round(wb_calls * per_k, 1),
        "other_calls_per_1000": round((calls - wb_calls) * per_k, 1),
        "calls_by_kind": kinds,
        "record_updates_sent_per_1000": round(records * per_k, 1),
        "floor_per_1000": round(floor * per_k, 1),
        "floor_sent_per_1000": round(floor_sent * per_k, 1),
        "ratio": round(calls / floor, 2) if floor else None,
        "writeback_ratio": round(wb_calls / floor, 2) if floor else None,
        "writeback_ratio_vs_sent": round(wb_calls / floor_sent, 2) if floor_sent else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0, help="activations per second")
    ap.add_argument("--flush-interval", type=float, default=None, help="writeback.flush_interval_s")
    ap.add_argument("--max-delay", type=float, default=None, help="writeback.max_delay_s")
    ap.add_argument("--batch-delay", type=float, default=0.0, help="ingest.batch_delay_s")
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    writeback: dict[str, Any] = {}
    if args.flush_interval is not None:
        writeback["flush_interval_s"] = args.flush_interval
    if args.max_delay is not None:
        writeback["max_delay_s"] = args.max_delay
    # PostgreSQL: a scratch database beside the one named, dropped afterwards; without
    # a URL the demo environment keeps its SQLite file in a folder it removes itself
    with contextlib.ExitStack() as stack:
        url = None
        if is_postgresql(args.database_url):
            url = stack.enter_context(scratch_database(args.database_url, "writeback"))
        r = asyncio.run(bench(args.orders, args.rate, url, writeback, args.batch_delay))
    print(
        f"writeback: orders={r['orders']} rate={r['rate_per_s']}/s "
        f"completed={r['all_completed']} p50_s={r['latency_p50_s']} p95_s={r['latency_p95_s']} "
        f"p99_s={r['latency_p99_s']} (as watched: p50 {r['watched_p50_s']}, "
        f"p95 {r['watched_p95_s']}, p99 {r['watched_p99_s']})\n"
        f"  calls/1000 orders={r['calls_per_1000']} "
        f"(write-back {r['writeback_calls_per_1000']}, other {r['other_calls_per_1000']})\n"
        f"  floor/1000 orders={r['floor_per_1000']} (1 call per {FLOOR_RECORDS_PER_CALL} "
        f"coalesced record updates; sent {r['record_updates_sent_per_1000']} record updates "
        f"-> floor {r['floor_sent_per_1000']})\n"
        f"  ratio={r['ratio']}x (write-back alone {r['writeback_ratio']}x)"
    )
    print(json.dumps(r))


if __name__ == "__main__":
    main()
