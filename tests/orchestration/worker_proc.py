"""A worker process for crash tests:
``python -m tests.orchestration.worker_proc URL LOG SLOW_S LEASE_S``.

Its ERP connector appends ``start <idempotency key> <attempt>`` to LOG, sleeps
SLOW_S, appends ``done ...`` and succeeds.  The process exits when no plan is open.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy import func, select

from revflow.config import WritebackSettings
from revflow.connectors.base import CallResult, FakeConnector
from revflow.db.database import Database
from revflow.db.models import Plan
from revflow.orchestration.executor import StepExecutor
from revflow.orchestration.worker import Worker
from revflow.plans.state import FINAL_PLAN


def logging_erp(log_path: str, slow_s: float):
    def write(line: str) -> None:
        with open(log_path, "a") as f:  # noqa: ASYNC230 - tiny appends in a test helper
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    async def erp(action, payload, ctx):
        write(f"start {ctx.idempotency_key} {ctx.attempt} {os.getpid()}")
        await asyncio.sleep(slow_s)
        write(f"done {ctx.idempotency_key} {ctx.attempt} {os.getpid()}")
        return CallResult(external_id=f"X-{ctx.idempotency_key}")

    return erp


def build_worker(db: Database, log_path: str, slow_s: float, lease_s: float) -> Worker:
    return Worker(
        db,
        StepExecutor({"erp": FakeConnector(logging_erp(log_path, slow_s))}),
        {},
        WritebackSettings(),
        lease_s=lease_s,
        poll_interval_s=0.05,
        concurrency=4,
    )


async def open_plans(db: Database) -> int:
    async with db.read() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(Plan).where(Plan.state.not_in(list(FINAL_PLAN)))
            )
            or 0
        )


async def main(url: str, log_path: str, slow_s: float, lease_s: float) -> None:
    db = Database(url)
    worker = build_worker(db, log_path, slow_s, lease_s)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    while await open_plans(db):  # noqa: ASYNC110 - another process changes the plans
        await asyncio.sleep(0.1)
    stop.set()
    await task
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])))
