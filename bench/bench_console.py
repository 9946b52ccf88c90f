"""The overview dashboard's queries at scale.

    python -m bench.bench_console [--plans 100000] [--database-url URL]

Fills an empty database with ``--plans`` plans (bulk inserts: two or three steps
each, one or two product families, facets, a spread over 90 days; most completed, some
cancelled, on hold with a failed step, or in progress) and prints each dashboard
query's time (the best of three runs), unfiltered and with filters, for the last 7
and 30 days; then the whole page's queries.  Without a URL it runs on a scratch SQLite
file; a PostgreSQL URL names the server: the run
uses a scratch database beside the named one and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.scratch import scratch_database
from revflow.clock import utcnow
from revflow.console import repository
from revflow.console.filters import Filters, parse_filters
from revflow.console.overview import chart_list, kpi_cards
from revflow.db.database import Database
from revflow.db.engine import is_sqlite
from revflow.db.migrate import upgrade
from revflow.db.models import AuditEntry, OrderSnapshot, Plan, PlanProductFamily, Step

CHUNK = 5000
REGIONS = ("FR", "DE", "US", "GB", "ES", "IT", "NL", "SE", "JP", "BR")
CHANNELS = ("New", "Renewal", "Upsell")
FAMILIES = ("Hardware", "Software", "Services")
DEFINITIONS = ("order_fulfillment", "order_to_three_systems", "quote_sync")
CONNECTORS = ("erp", "warehouse", "accounting")


def plan_rows(n: int, rng: random.Random) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for i in range(n):
        created = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        roll = rng.random()
        state = (
            "completed"
            if roll < 0.8
            else "cancelled"
            if roll < 0.85
            else "on_hold"
            if roll < 0.9
            else "in_progress"
        )
        done = created + timedelta(seconds=rng.uniform(60, 3 * 86400))
        completed = done if state == "completed" and done < now else None
        if state == "completed" and completed is None:
            state = "in_progress"
        rows.append(
            {
                "id": i + 1,
                "order_id": f"801{i:015d}",
                "scenario": "new",
                "definition": rng.choice(DEFINITIONS),
                "correlation_id": f"rf-{i}",
                "state": state,
                "snapshot_id": i + 1,
                "mapping_hashes": {},
                "created_at": created,
                "updated_at": completed or (done if state == "cancelled" else created),
                "completed_at": completed,
                "version": 1,
                "due_at": created + timedelta(days=rng.choice((1, 2, 5))),
                "region": rng.choice(REGIONS),
                "channel": rng.choice(CHANNELS),
                "account_id": f"001{rng.randrange(2000):015d}",
            }
        )
    return rows


def step_rows(plan: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    out = []
    # half the plans reach all three systems, the others the ERP and accounting only
    connectors = CONNECTORS if rng.random() < 0.5 else ("erp", "accounting")
    for pos, connector in enumerate(connectors):
        failed = plan["state"] == "on_hold" and pos == 1
        attempts = 5 if failed else (1 if rng.random() < 0.9 else rng.randint(2, 4))
        out.append(
            {
                "plan_id": plan["id"],
                "key": f"s{pos}",
                "position": pos,
                "kind": "call",
                "connector": connector,
                "action": "create",
                "depends_on": [],
                "state": "failed" if failed else "completed",
                "attempts": attempts,
                "idempotency_key": f"{plan['order_id']}-{pos}",
                "error": rng.choice(
                    ("non-retryable PermanentConnectorError: 400", "gave up after 5 attempts: x")
                )
                if failed
                else None,
                "ponr": False,
            }
        )
    return out


async def fill(db: Database, n: int, seed: int = 1) -> float:
    rng = random.Random(seed)
    start = time.perf_counter()
    plans = plan_rows(n, rng)
    for lo in range(0, n, CHUNK):
        chunk = plans[lo : lo + CHUNK]
        async with db.write() as s:
            await s.execute(
                insert(OrderSnapshot),
                [{"id": p["id"], "order_id": p["order_id"], "record": {}} for p in chunk],
            )
            await s.execute(insert(Plan), chunk)
            await s.execute(insert(Step), [r for p in chunk for r in step_rows(p, rng)])
            families = [
                {"plan_id": p["id"], "family": f}
                for p in chunk
                for f in rng.sample(FAMILIES, rng.choice((1, 1, 2)))
            ]
            await s.execute(insert(PlanProductFamily), families)
            acted = [
                {"actor": "user:olga", "action": "operator.retry", "plan_id": p["id"], "detail": {}}
                for p in chunk
                if rng.random() < 0.03
            ]
            if acted:
                await s.execute(insert(AuditEntry), acted)
    async with db.write() as s:
        await s.execute(text("ANALYZE"))
        if not is_sqlite(db.url):
            await s.execute(text("SELECT setval('plans_id_seq', (SELECT max(id) FROM plans))"))
    return time.perf_counter() - start


async def best_of(
    db: Database, run: Callable[[AsyncSession], Awaitable[object]], times: int = 3
) -> float:
    best = float("inf")
    for _ in range(times):
        async with db.read() as s:
            start = time.perf_counter()
            await run(s)
            best = min(best, time.perf_counter() - start)
    return best


def queries(f: Filters) -> dict[str, Callable[[AsyncSession], Awaitable[object]]]:
    p = f.period
    return {
        "received": lambda s: repository.received(s, f, p),
        "completions (on time, automation)": lambda s: repository.completions(s, f, p),
        "cancelled": lambda s: repository.cancelled(s, f, p),
        "open at period end": lambda s: repository.open_at(s, f, p.end),
        "erroneous steps": lambda s: repository.step_errors(s, f, p),
        "fulfillment p50/p95": lambda s: repository.fulfillment_percentiles(s, f, p),
        "fallout open": lambda s: repository.fallout_open(s, f),
        "fallout by error class": lambda s: repository.fallout_by(s, f, "error_class"),
        "fallout by connector": lambda s: repository.fallout_by(s, f, "connector"),
        "orders by status per day": lambda s: repository.status_by_day(s, f, p),
        "completed per day": lambda s: repository.completed_by_day(s, f, p),
        "filter choices": repository.choices,
        "KPI block (both periods)": lambda s: kpi_cards(s, f, 0.5),
        "whole page": lambda s: _page(s, f),
    }


async def _page(s: AsyncSession, f: Filters) -> None:
    await kpi_cards(s, f, 0.5)
    await chart_list(s, f)
    await repository.choices(s)


async def main(url: str, plans: int) -> None:
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        async with db.read() as s:
            if await s.scalar(text("SELECT count(*) FROM plans")):
                raise SystemExit("bench_console needs an empty database")
        took = await fill(db, plans)
        print(
            f"{'SQLite' if is_sqlite(url) else 'PostgreSQL'}: {plans} plans filled in {took:.0f} s"
        )
        today = utcnow().date()
        views = {
            "7 days": {"from": (today - timedelta(days=6)).isoformat()},
            "30 days": {"from": (today - timedelta(days=29)).isoformat()},
            "30 days, region FR": {
                "from": (today - timedelta(days=29)).isoformat(),
                "region": "FR",
            },
            "30 days, family Software": {
                "from": (today - timedelta(days=29)).isoformat(),
                "family": "Software",
            },
            "30 days, connector warehouse": {
                "from": (today - timedelta(days=29)).isoformat(),
                "connector": "warehouse",
            },
        }
        for label, query in views.items():
            f = parse_filters(query, today)
            print(f"\n{label}")
            for name, run in queries(f).items():
                if label != "7 days" and name not in ("KPI block (both periods)", "whole page"):
                    continue
                print(f"  {name:<36} {await best_of(db, run) * 1000:8.1f} ms")
    finally:
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plans", type=int, default=100_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with scratch_database(args.database_url, "console") as url:
        asyncio.run(main(url, args.plans))
