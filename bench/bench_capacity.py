"""Capacity with N Revflow processes: orders/s through the standard plan, and peak RSS.

    python -m bench.bench_capacity --database-url postgresql+asyncpg://postgres@HOST/postgres
        [--workers 1,2,4] [--orders 1000,10000] [--repeat 2] [--explain]

For each (orders, workers, repeat) it creates a scratch database (dropped afterwards),
runs the sandbox org and ERP in this process and ``revflow run --workers N`` as child
processes (the main one plus N-1 steps-only workers), creates the orders, waits until
Revflow has stored their creation events (so its start-up is not timed), activates
them all in sObject Collections calls of 200 and times first activation to the last
order showing Completed on its record.  Salesforce calls are paced as in production
(``salesforce.calls_per_order``; the demo turns pacing off).  It prints orders/s, the
rate between 10% and 90% of the orders completed (without the ramp and the tail),
Revflow's Salesforce calls per 1,000 orders, each Revflow process's
peak RSS (``VmHWM``: with every order activated at once, all are in flight) and CPU
milliseconds per order (Revflow's processes; this process: the sandbox org and ERP;
the local PostgreSQL server), which a shared machine's neighbours do not change the
way they change orders/s, how busy the machine's cores were over the window (near 100%:
saturated), and the steps run twice and callouts made twice (none expected: several
processes share the steps by lease).
``--explain`` prints the plans of the hot queries over the run's tables before the drop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.scratch import scratch_database
from revflow.config import SalesforceSettings
from revflow.db.engine import make_engine
from revflow.demo import DemoEnvironment

PACED = SalesforceSettings.model_fields["calls_per_order"].default


def _processes() -> dict[int, tuple[str, int]]:
    """Every process's name and parent (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat.split("(", 1)[1].rsplit(")", 1)
            found[int(entry.name)] = (name, int(rest.split()[1]))
    return found


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [child for child, (_, parent) in _processes().items() if parent == pid]


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds used by ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu_s() -> float | None:
    """CPU seconds of the local PostgreSQL server so far: the postmaster's own and its
    exited children's (``cutime``/``cstime``), plus its live backends'.  None when the
    server is not a process on this machine (it is then not on these cores either)."""
    names = _processes()
    roots = [
        p
        for p, (c, pp) in names.items()
        if c == "postgres" and names.get(pp, ("",))[0] != "postgres"
    ]
    if not roots:
        return None
    total = 0.0
    for root in roots:
        try:
            fields = Path(f"/proc/{root}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        total += sum(_cpu_s(pid) for pid in _children(root))
    return total


def _revflow_cpu_s(main_pid: int) -> dict[int, float]:
    return {pid: _cpu_s(pid) for pid in [main_pid, *_children(main_pid)]}


def _machine_cpu() -> tuple[int, int]:
    """All cores' busy and total clock ticks so far (/proc/stat's first line)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def _busy_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    busy, total = (a - b for a, b in zip(after, before, strict=True))
    return round(100 * busy / max(total, 1), 1)


async def _repeats(url: str) -> dict[str, int]:
    """Steps the workers ran more than once, and callouts made more than once: a run
    with no fault injected must show none (several processes share the steps by lease)."""
    engine = make_engine(url)
    async with engine.connect() as conn:
        steps = await conn.scalar(text("SELECT count(*) FROM steps WHERE attempts > 1"))
        calls = await conn.scalar(
            text(
                "SELECT count(*) FROM (SELECT call_id FROM connector_attempts"
                " GROUP BY call_id HAVING count(*) > 1) AS repeated"
            )
        )
    await engine.dispose()
    return {"steps_run_twice": int(steps or 0), "callouts_repeated": int(calls or 0)}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


HOT_QUERIES = {  # the loops' queries, as PostgreSQL runs them (app/*/repository.py, claims.py)
    "step claim": "SELECT id FROM steps WHERE ((state IN ('ready','retrying') AND due_at <= now()"
    " AND NOT EXISTS (SELECT 1 FROM plans WHERE plans.id = steps.plan_id AND plans.state IN"
    " ('freezing','frozen'))) OR (state = 'running' AND lease_expires_at < now()))"
    " ORDER BY plan_id, due_at LIMIT 32 FOR UPDATE SKIP LOCKED",
    "outbox claim": "SELECT * FROM writeback_outbox WHERE state = 'pending' AND due_at <= now()"
    " AND (lease_expires_at IS NULL OR lease_expires_at < now()) ORDER BY id LIMIT 200"
    " FOR UPDATE SKIP LOCKED",
    "inbox read": "SELECT * FROM received_events WHERE status = 'received' ORDER BY id LIMIT 200",
    "plans of orders": "SELECT id FROM plans WHERE order_id IN ('801000000000001AAA')",
}


async def _explain(url: str) -> None:
    engine = make_engine(url)
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE"))
        for name, sql in HOT_QUERIES.items():
            rows = (await conn.execute(text("EXPLAIN ANALYZE " + sql))).scalars().all()
            print(f"-- {name}\n" + "\n".join(rows))
    await engine.dispose()


async def one_run(
    url: str, orders: int, workers: int, explain: bool, pool: tuple[int, int]
) -> dict[str, Any]:
    """One run in the scratch database ``url``."""
    timeout_s = 60 + orders / 2  # slower than 2 orders/s: something is stuck
    overrides: dict[str, Any] = {
        "database_pool_size": pool[0],
        "database_max_overflow": pool[1],
        # the defaults, not the crash tests' 2-3 s: on a loaded machine those lapse
        # under a slow commit and other processes run the steps again
        "worker": {"lease_s": 30.0},
        "writeback": {"lease_s": 30.0},
        "ingest": {"lease_s": 15.0},
        # the production default: Salesforce calls paced per order (the demo turns it off)
        "salesforce": {"calls_per_order": PACED},
    }
    async with DemoEnvironment(
        database_url=url,
        seed=7,
        separate_process=True,
        workers=workers,
        settings_overrides=overrides,
    ) as env:
        ids = await env.create_orders(orders)
        await _caught_up(env, url)
        assert env.process is not None and env.process.proc is not None
        main_pid = env.process.proc.pid
        cpu_before, own_before = _revflow_cpu_s(main_pid), time.process_time()
        pg_before, machine_before = _postgres_cpu_s(), _machine_cpu()
        started = time.monotonic()
        await env.activate(ids)
        activated = time.monotonic() - started
        done = await env.wait_until_done(ids, timeout_s=timeout_s, final=("Completed",))
        elapsed = time.monotonic() - started
        finished = sorted(env.finished_at[o] - started for o in ids if o in env.finished_at)
        cpu_after, own = _revflow_cpu_s(main_pid), time.process_time() - own_before
        pg_after, machine_after = _postgres_cpu_s(), _machine_cpu()
        cpu = [after - cpu_before.get(pid, 0.0) for pid, after in cpu_after.items()]
        rss = [_peak_rss_mb(pid) for pid in cpu_after]
        summary = env.summary(ids, elapsed)
        if not done:  # why: the end of Revflow's log
            print(*env.process.log_path.read_text().splitlines()[-20:], sep="\n")
    if explain:
        await _explain(url)
    repeats = await _repeats(url)
    return {
        "orders": orders,
        "workers": workers,
        "all_completed": done,
        "orders_per_s": round(orders / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
        **_curve(finished, orders, activated),
        "peak_rss_mb": rss,
        # CPU per order: what a machine of its own would carry, whatever the neighbours do
        "revflow_cpu_ms_per_order": [round(1000 * c / orders, 1) for c in cpu],
        "sandbox_cpu_ms_per_order": round(1000 * own / orders, 1),
        "postgres_cpu_ms_per_order": (
            None
            if pg_before is None or pg_after is None
            else round(1000 * (pg_after - pg_before) / orders, 1)
        ),
        # near 100: the cores are saturated, and more processes cannot add throughput
        "machine_cpu_busy_pct": _busy_pct(machine_before, machine_after),
        "duplicate_deliveries": summary.duplicate_deliveries,
        **repeats,
        "api_calls_per_1000_orders": round(1000 * summary.api_calls_per_order, 1),
        "latency_p50_s": summary.latency_p50_s,
    }


async def _caught_up(env: DemoEnvironment, url: str, timeout_s: float = 300.0) -> None:
    """Wait until Revflow has stored every event the org holds on its channels (the
    orders' creation): its start-up (imports, migrations check, subscribing) and the
    creation events are then outside the measured window, which starts at activation."""
    assert env.settings is not None
    expected = len(env.org.events.all_events(env.settings.ingest.channels))
    engine = make_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                stored = (await conn.execute(text("SELECT count(*) FROM received_events"))).scalar()
            if (stored or 0) >= expected:
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    raise TimeoutError(f"Revflow stored fewer than {expected} events in {timeout_s:.0f} s")


def _curve(finished: list[float], orders: int, activated_s: float) -> dict[str, Any]:
    """When the last activation call returned, when 10/50/90% of the orders showed
    Completed (s from the first activation), and the rate between 10% and 90%: the
    pipeline's pace without its ramp (first events, first reads) and its tail."""
    if len(finished) < 10:
        return {}
    at = {q: finished[max(0, round(q * orders / 100) - 1)] for q in (10, 50, 90)}
    return {
        "activated_s": round(activated_s, 2),
        "completed_at_s": {f"p{q}": round(t, 2) for q, t in at.items()},
        "orders_per_s_10_to_90": round(0.8 * orders / max(at[90] - at[10], 1e-9), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--orders", default="1000")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--explain", action="store_true")
    ap.add_argument(
        "--pool",
        default="5,10",
        help="each process's pool size and overflow (N processes x their sum must fit "
        "the server's max_connections)",
    )
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    if not (args.database_url or "").startswith("postgresql"):
        ap.error("--database-url must name a PostgreSQL server (several processes need it)")
    logging.disable(logging.WARNING)
    for orders in (int(n) for n in args.orders.split(",")):
        for _ in range(args.repeat):  # interleaved: the machine's noise hits every N alike
            for workers in (int(n) for n in args.workers.split(",")):
                size, overflow = (int(n) for n in args.pool.split(","))
                with scratch_database(args.database_url, "capacity") as url:
                    r = asyncio.run(one_run(url, orders, workers, args.explain, (size, overflow)))
                print(
                    f"capacity: orders={orders} processes={workers} "
                    f"orders_per_s={r['orders_per_s']} elapsed_s={r['elapsed_s']} "
                    f"orders_per_s_10_to_90={r.get('orders_per_s_10_to_90')} "
                    f"completed={r['all_completed']} duplicates={r['duplicate_deliveries']} "
                    f"steps_run_twice={r['steps_run_twice']} "
                    f"callouts_repeated={r['callouts_repeated']} "
                    f"machine_cpu_busy_pct={r['machine_cpu_busy_pct']} "
                    f"peak_rss_mb={r['peak_rss_mb']} "
                    f"revflow_cpu_ms_per_order={r['revflow_cpu_ms_per_order']} "
                    f"sandbox_cpu_ms_per_order={r['sandbox_cpu_ms_per_order']} "
                    f"postgres_cpu_ms_per_order={r['postgres_cpu_ms_per_order']} "
                    f"api_calls_per_1000_orders={r['api_calls_per_1000_orders']}",
                    flush=True,
                )
                print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
