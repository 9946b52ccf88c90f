"""Step executions per second with an instant connector, through the real worker.

    python -m bench.bench_steps [--plans 2000] [--workers 1,2] [--concurrency 128]
        [--database-url URL ...] [--no-pgbench]

For each database (a scratch SQLite file, plus PostgreSQL when ``--database-url`` or
``REVFLOW_BENCH_DATABASE_URL`` names one; its schema is dropped and recreated) and
each worker count, it creates plans of three dependent steps (validate, sales order,
invoice), starts that many worker processes together and prints step executions per
second until every plan is final.  Process start-up is not timed.

On PostgreSQL it also runs pgbench on the same server as the ceiling: a scratch
database (``pgbench -i -s 10``, created and dropped here), then ``pgbench -c 4 -j 2
-T 10`` (TPC-B-like transactions), and prints its TPS and the ratio of step
executions per second to it.  Without pgbench or PostgreSQL that part is skipped
with a message.  Figures only: nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult, FakeConnector
from revflow.db.database import Database
from revflow.db.engine import normalize_url
from revflow.db.migrate import upgrade
from revflow.db.models import Plan, PlanState
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.plans import create_plan
from revflow.orchestration.worker import Worker
from revflow.plans.decompose import decompose
from revflow.plans.definitions import order_fulfillment

PGBENCH_CLIENTS, PGBENCH_THREADS = 4, 2


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


async def work(url: str, concurrency: int, ready: MpEvent | None, go: MpEvent | None) -> int:
    """Run one worker until no plan is open; returns how many steps it executed."""
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
    async with db.read() as s:  # connect before the clock starts
        await s.execute(text("SELECT 1"))
    if ready is not None and go is not None:
        ready.set()
        await asyncio.to_thread(go.wait)
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


def _process(
    url: str,
    concurrency: int,
    ready: MpEvent,
    go: MpEvent,
    out: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    executed = asyncio.run(work(url, concurrency, ready, go))
    out.put((executed, time.monotonic()))


async def reset(url: str) -> None:
    """An empty database: PostgreSQL's schema dropped, SQLite's file removed."""
    if url.startswith("postgresql"):
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await db.dispose()
        return
    path = make_url(url).database
    if path and path != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)


@dataclass
class StepRun:
    database: str
    workers: int
    plans: int
    executed: int
    elapsed_s: float

    @property
    def per_s(self) -> float:
        return self.executed / self.elapsed_s if self.elapsed_s else 0.0


def run_steps(url: str, plans: int, workers: int, concurrency: int) -> StepRun:
    asyncio.run(reset(url))
    upgrade(url)
    asyncio.run(seed(url, plans))
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    go = ctx.Event()
    readies = [ctx.Event() for _ in range(workers)]
    procs = [
        ctx.Process(target=_process, args=(url, concurrency, readies[i], go, out))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for r in readies:
        r.wait()
    started = time.monotonic()
    go.set()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    executed = sum(n for n, _ in results)
    elapsed = max(t for _, t in results) - started
    kind = "postgresql" if url.startswith("postgresql") else "sqlite"
    return StepRun(kind, workers, plans, executed, elapsed)


# -- pgbench: the ceiling ---------------------------------------------------------


def pgbench_tps(url: str, scale: int, seconds: int) -> tuple[float | None, str]:
    """pgbench's TPS on the server of ``url`` (a scratch database); else None and why."""
    exe = shutil.which("pgbench")
    if exe is None:
        return None, "pgbench not found on PATH"
    u = make_url(normalize_url(url))
    scratch = f"revflow_pgbench_{os.getpid()}"
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    conn_args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432)]
    if u.username:
        conn_args += ["-U", u.username]
    try:
        asyncio.run(_admin(url, f'CREATE DATABASE "{scratch}"'))
    except Exception as exc:
        return None, f"cannot create a scratch database: {type(exc).__name__}: {exc}"
    try:
        init = subprocess.run(
            [exe, "-i", "-q", "-s", str(scale), *conn_args, scratch],
            env=env,
            capture_output=True,
            text=True,
        )
        if init.returncode:
            return None, f"pgbench -i failed: {init.stderr.strip()[-300:]}"
        run = subprocess.run(
            [
                exe,
                "-c",
                str(PGBENCH_CLIENTS),
                "-j",
                str(PGBENCH_THREADS),
                "-T",
                str(seconds),
                *conn_args,
                scratch,
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        found = re.search(r"tps = ([0-9.]+)", run.stdout)
        if run.returncode or not found:
            return None, f"pgbench failed: {(run.stderr or run.stdout).strip()[-300:]}"
        return float(found.group(1)), ""
    finally:
        try:
            asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        except Exception as exc:
            print(f"pgbench: could not drop scratch database {scratch}: {exc}")


async def _admin(url: str, statement: str) -> None:
    """Run a statement outside a transaction (CREATE/DROP DATABASE)."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plans", type=int, default=2000, help="plans of 3 steps (default 2000)")
    ap.add_argument(
        "--workers", default="1,2", help="worker process counts, comma separated (default 1,2)"
    )
    ap.add_argument("--concurrency", type=int, default=128, help="steps at once per worker")
    ap.add_argument(
        "--database-url",
        action="append",
        help="a database to run on (repeatable); default: a scratch SQLite file, and "
        "REVFLOW_BENCH_DATABASE_URL when set.  A PostgreSQL database's schema is dropped.",
    )
    ap.add_argument("--no-pgbench", action="store_true", help="skip the pgbench ceiling")
    ap.add_argument("--pgbench-scale", type=int, default=10)
    ap.add_argument("--pgbench-seconds", type=int, default=10)
    args = ap.parse_args()
    workers = [int(n) for n in str(args.workers).split(",") if n.strip()]
    urls = [f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.sqlite"]
    urls += args.database_url or []
    if not args.database_url and os.environ.get("REVFLOW_BENCH_DATABASE_URL"):
        urls.append(os.environ["REVFLOW_BENCH_DATABASE_URL"])
    urls = [normalize_url(u) for u in urls]
    pg = next((u for u in urls if u.startswith("postgresql")), None)
    tps: float | None = None
    if args.no_pgbench:
        print("pgbench: skipped (--no-pgbench)")
    elif pg is None:
        print(
            "pgbench: skipped (no PostgreSQL database: pass --database-url "
            "postgresql+asyncpg://user@host/db or set REVFLOW_BENCH_DATABASE_URL)"
        )
    else:
        tps, why = pgbench_tps(pg, args.pgbench_scale, args.pgbench_seconds)
        if tps is None:
            print(f"pgbench: skipped ({why})")
        else:
            print(
                f"pgbench: scale={args.pgbench_scale} clients={PGBENCH_CLIENTS} "
                f"threads={PGBENCH_THREADS} seconds={args.pgbench_seconds} tps={tps:.0f}"
            )
    for url in urls:
        for n in workers:
            r = run_steps(url, args.plans, n, args.concurrency)
            line = (
                f"steps: database={r.database} workers={r.workers} plans={r.plans} "
                f"executed={r.executed} elapsed_s={r.elapsed_s:.2f} steps_per_s={r.per_s:.0f}"
            )
            if r.database == "postgresql" and tps:
                line += f" pgbench_tps={tps:.0f} ratio={r.per_s / tps:.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
