"""What idle Revflow processes cost: CPU seconds over a quiet minute, per process.

    python -m bench.bench_idle --database-url postgresql+asyncpg://postgres@HOST/postgres
        [--workers 2] [--seconds 60]

Runs ``revflow run --workers N`` (the main process and N-1 steps-only ``revflow
worker`` processes) against a scratch database (dropped afterwards) with the sandbox
org and ERP in this process, lets it settle, then prints each process's CPU seconds
(user + system, from /proc) over ``--seconds`` with no order in flight: the cost of
waiting for work (polling, pre-pings, leases, sweeps).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from bench.bench_capacity import _revflow_cpu_s
from bench.scratch import scratch_database
from revflow.demo import DemoEnvironment

SETTLE_S = 15.0  # start-up (imports, org check; slow on a loaded machine) is not idle time


async def one_run(url: str, workers: int, seconds: float) -> dict[int, float]:
    async with DemoEnvironment(
        database_url=url, seed=7, separate_process=True, workers=workers
    ) as env:
        assert env.process is not None and env.process.proc is not None
        main_pid = env.process.proc.pid
        await asyncio.sleep(SETTLE_S)
        before = _revflow_cpu_s(main_pid)
        await asyncio.sleep(seconds)
        after = _revflow_cpu_s(main_pid)
    return {pid: round(cpu - before.get(pid, 0.0), 2) for pid, cpu in after.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--database-url", default=os.environ.get("REVFLOW_BENCH_DATABASE_URL"))
    args = ap.parse_args()
    if not (args.database_url or "").startswith("postgresql"):
        ap.error("--database-url must name a PostgreSQL server (several processes need it)")
    logging.disable(logging.WARNING)
    with scratch_database(args.database_url, "idle") as url:
        cpu = asyncio.run(one_run(url, args.workers, args.seconds))
    main_s, *workers_s = cpu.values()
    print(
        f"idle: processes={args.workers} seconds={args.seconds} "
        f"main_cpu_s={main_s} worker_cpu_s={workers_s}",
        flush=True,
    )


if __name__ == "__main__":
    main()
