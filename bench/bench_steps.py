"""Step executions per second with an instant connector, through the real worker.

    python -m bench.bench_steps [--plans 2000] [--workers 1,2] [--concurrency 128]
        [--create-batch 100] [--repeat 1] [--database-url URL ...] [--no-pgbench]

For each database and each worker count, it creates plans of the benches' 5-step
workflow (bench/workflow.py: validate, then four dependent callouts to an instant
connector), starts that many worker processes together and runs them until every
plan is final.  It prints step executions per second two ways: ``steps_per_s``
counts plan creation (``--create-batch`` plans per transaction, as intake commits
them) and execution, end to end; ``run_steps_per_s`` counts execution alone.
Process start-up is not timed.  ``worker_cpu_ms_per_step`` is the worker processes'
CPU (``time.process_time``) per step while executing, ``create_cpu_ms_per_plan`` the
creating process's CPU per plan created: on a busy machine steadier figures than the
rates (the database server's CPU is not in them, nor the bench's watch for the last
plan, which runs in the bench's own process).

Databases: a scratch SQLite file, plus a scratch PostgreSQL database on the server of
``--database-url`` or ``REVFLOW_BENCH_DATABASE_URL`` (created beside the database the
URL names, which is left alone); both are removed at the end, also on error.

On PostgreSQL it also runs pgbench on the same server as the yardstick (bench/pgbench.py:
TPC-B-like, 2 clients, 2 threads, its own scratch database) and prints the ratio of
step executions per second to pgbench's transactions per second.  Without pgbench or
PostgreSQL that part is skipped with a message.  Figures only: nothing here asserts a
timing.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent

from sqlalchemy import func, select, text

from bench import workflow
from bench.pgbench import describe, pgbench_tps
from bench.scratch import is_postgresql, reset, scratch_database
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.engine import normalize_url
from revflow.db.migrate import upgrade
from revflow.db.models import Plan, PlanState
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.plans import create_plans
from revflow.orchestration.worker import Worker
from revflow.plans.decompose import decompose

__all__ = ["StepRun", "reset", "run_steps", "seed"]  # reset: bench_pipeline imports it here


async def seed(url: str, plans: int, batch: int = 100) -> tuple[float, float]:
    """Create ``plans`` plans, ``batch`` per transaction; returns the seconds it took
    and this process's CPU seconds meanwhile (``time.process_time``)."""
    db = Database(url)
    definition = workflow.five_step_plan()
    mappings = workflow.mappings()
    settings = WritebackSettings()
    async with db.read() as s:  # connect before the clock starts
        await s.execute(text("SELECT 1"))
    started, cpu = time.monotonic(), time.process_time()
    for first in range(0, plans, batch):
        async with db.write() as s:
            orders = [workflow.order(i) for i in range(first, min(plans, first + batch))]
            new = [(decompose(definition, order, mappings), order) for order in orders]
            await create_plans(s, new, settings)  # as intake does: a batch at once
    took, cpu = time.monotonic() - started, time.process_time() - cpu
    await db.dispose()
    return took, cpu


async def work(
    url: str,
    concurrency: int,
    ready: MpEvent | None,
    go: MpEvent | None,
    finished: MpEvent | None = None,
) -> tuple[int, float]:
    """Run one worker until no plan is open; returns how many steps it executed and the
    CPU seconds the process spent until then (``time.process_time``).  ``finished``:
    set by the bench's own process when it sees no plan open (``until_done``), so that
    the watching is not in the worker's CPU; without it the worker watches itself."""
    db = Database(url)
    definition = workflow.five_step_plan()
    worker = Worker(
        db,
        StepExecutor({workflow.CONNECTOR: workflow.instant_connector()}),
        {definition.name: definition},
        WritebackSettings(),
        concurrency=concurrency,
        poll_interval_s=0.01,
    )
    async with db.read() as s:  # connect before the clock starts
        await s.execute(text("SELECT 1"))
    if ready is not None and go is not None:
        ready.set()
        await asyncio.to_thread(go.wait)
    stop = asyncio.Event()
    cpu = time.process_time()

    async def watch() -> None:
        nonlocal cpu
        if finished is not None:
            await asyncio.to_thread(finished.wait)
        else:
            await until_done(db)
        cpu = time.process_time() - cpu
        stop.set()

    await asyncio.gather(worker.run(stop), watch())
    await db.dispose()
    return worker.executed, cpu


async def until_done(db: Database) -> float:
    """Wait until no plan is open; returns when it saw that (``time.monotonic``)."""
    while True:
        async with db.read() as s:
            open_plans = await s.scalar(
                select(func.count()).select_from(Plan).where(Plan.state == PlanState.IN_PROGRESS)
            )
        if not open_plans:
            return time.monotonic()
        await asyncio.sleep(0.05)


async def _watch(url: str) -> float:
    db = Database(url)
    try:
        return await until_done(db)
    finally:
        await db.dispose()


def _process(
    url: str,
    concurrency: int,
    events: tuple[MpEvent, MpEvent, MpEvent],
    out: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    ready, go, finished = events
    out.put(asyncio.run(work(url, concurrency, ready, go, finished)))


@dataclass
class StepRun:
    database: str
    workers: int
    concurrency: int
    plans: int
    executed: int
    create_s: float  # creating the plans
    run_s: float  # executing their steps
    worker_cpu_s: float = 0.0  # the worker processes' CPU while executing
    create_cpu_s: float = 0.0  # the creating process's CPU while creating the plans

    @property
    def create_cpu_ms_per_plan(self) -> float:
        """The creating process's CPU per plan created (decompose and store)."""
        return 1000 * self.create_cpu_s / self.plans if self.plans else 0.0

    @property
    def cpu_ms_per_step(self) -> float:
        """The workers' CPU per step executed (the database server's not included)."""
        return 1000 * self.worker_cpu_s / self.executed if self.executed else 0.0

    @property
    def per_s(self) -> float:
        """Steps per second, plan creation included."""
        total = self.create_s + self.run_s
        return self.executed / total if total else 0.0

    @property
    def run_per_s(self) -> float:
        """Steps per second, execution alone."""
        return self.executed / self.run_s if self.run_s else 0.0


def run_steps(
    url: str, plans: int, workers: int, concurrency: int, create_batch: int = 100
) -> StepRun:
    """One measured run on an emptied ``url``."""
    asyncio.run(reset(url))
    upgrade(url)
    create_s, create_cpu_s = asyncio.run(seed(url, plans, create_batch))
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    go = ctx.Event()
    finished = ctx.Event()
    readies = [ctx.Event() for _ in range(workers)]
    procs = [
        ctx.Process(target=_process, args=(url, concurrency, (readies[i], go, finished), out))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        for r in readies:
            r.wait()
        started = time.monotonic()
        go.set()
        # watched from here, not in the workers: their CPU is the worker's alone
        run_s = asyncio.run(_watch(url)) - started
        finished.set()
        results = [out.get() for _ in procs]
    finally:
        finished.set()
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    executed = sum(n for n, _ in results)
    cpu_s = sum(c for _, c in results)
    kind = "postgresql" if is_postgresql(url) else "sqlite"
    return StepRun(
        kind, workers, concurrency, plans, executed, create_s, run_s, cpu_s, create_cpu_s
    )


def spread(values: list[float]) -> str:
    """'median (min-max)' of the repeats, or the one value."""
    if len(values) == 1:
        return f"{values[0]:.0f}"
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--plans", type=int, default=2000, help="plans of 5 steps (default 2000)")
    ap.add_argument(
        "--workers", default="1,2", help="worker process counts, comma separated (default 1,2)"
    )
    ap.add_argument("--concurrency", type=int, default=128, help="steps at once per worker")
    ap.add_argument("--create-batch", type=int, default=100, help="plans per transaction")
    ap.add_argument("--repeat", type=int, default=1, help="runs per setting; spread printed")
    ap.add_argument(
        "--database-url",
        action="append",
        help="a PostgreSQL server to run on (repeatable), as a URL of any database on it: "
        "a scratch database is created beside it and dropped; default: "
        "REVFLOW_BENCH_DATABASE_URL when set.  SQLite always runs, in a scratch file.",
    )
    ap.add_argument("--no-pgbench", action="store_true", help="skip the pgbench yardstick")
    ap.add_argument("--pgbench-scale", type=int, default=10)
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    args = ap.parse_args()
    workers = [int(n) for n in str(args.workers).split(",") if n.strip()]
    servers: list[str | None] = [None]
    servers += [normalize_url(u) for u in args.database_url or []]
    if not args.database_url and os.environ.get("REVFLOW_BENCH_DATABASE_URL"):
        servers.append(normalize_url(os.environ["REVFLOW_BENCH_DATABASE_URL"]))
    pg = next((u for u in servers if is_postgresql(u)), None)
    tps: list[float] = []
    if args.no_pgbench:
        print("pgbench: skipped (--no-pgbench)")
    elif pg is None:
        print(
            "pgbench: skipped (no PostgreSQL server: pass --database-url "
            "postgresql+asyncpg://user@host/db or set REVFLOW_BENCH_DATABASE_URL)"
        )
    else:
        for _ in range(args.repeat):
            found, why = pgbench_tps(pg, args.pgbench_scale, args.pgbench_seconds)
            if found is None:
                print(f"pgbench: skipped ({why})")
                break
            tps.append(found)
        if tps:
            print(
                f"pgbench: {describe(args.pgbench_scale, args.pgbench_seconds)} tps={spread(tps)}"
            )
    for server in servers:
        with scratch_database(server, "steps") as url:
            for n in workers:
                runs = [
                    run_steps(url, args.plans, n, args.concurrency, args.create_batch)
                    for _ in range(args.repeat)
                ]
                _print(runs, statistics.median(tps) if tps else None)


def _print(runs: list[StepRun], tps: float | None) -> None:
    r = runs[0]
    per_s = [x.per_s for x in runs]
    line = (
        f"steps: database={r.database} workers={r.workers} concurrency={r.concurrency} "
        f"plans={r.plans} steps_per_plan={workflow.STEPS_PER_WORKFLOW} "
        f"executed={'/'.join(str(x.executed) for x in runs)} "
        f"create_s={'/'.join(f'{x.create_s:.2f}' for x in runs)} "
        f"create_cpu_ms_per_plan={'/'.join(f'{x.create_cpu_ms_per_plan:.2f}' for x in runs)} "
        f"run_s={'/'.join(f'{x.run_s:.2f}' for x in runs)} "
        f"steps_per_s={spread(per_s)} run_steps_per_s={spread([x.run_per_s for x in runs])} "
        f"worker_cpu_ms_per_step={'/'.join(f'{x.cpu_ms_per_step:.2f}' for x in runs)}"
    )
    if r.database == "postgresql" and tps:
        line += f" pgbench_tps={tps:.0f} ratio={statistics.median(per_s) / tps:.2f}"
    print(line, flush=True)


if __name__ == "__main__":
    main()
