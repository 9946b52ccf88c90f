"""Real worker processes: SIGKILL mid-step, and two workers sharing PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from revflow.db.models import ConnectorCall, Plan
from tests.orchestration.worker_proc import build_worker
from tests.plankit import insert_plan, states

ROOT = Path(__file__).resolve().parents[2]


async def spawn(url: str, log: Path, slow_s: float, lease_s: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.orchestration.worker_proc",
        url,
        str(log),
        str(slow_s),
        str(lease_s),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


async def wait_for(pred, timeout_s: float) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_sigkill_mid_step_then_another_worker_completes_it_once(db, database_url, tmp_path):
    pid = await insert_plan(db, [{"key": "so", "kind": "callout", "action": "so.create"}])
    log = tmp_path / "calls.log"
    proc = await spawn(database_url, log, slow_s=60, lease_s=1.0)
    try:
        await wait_for(lambda: any(w[0] == "start" for w in lines(log)), 30)
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    _, steps = await states(db, pid)
    assert steps["so"].state == "running"  # the dead worker still "holds" it until the lease ends
    await asyncio.sleep(1.2)
    worker = build_worker(db, str(log), slow_s=0, lease_s=30)
    await worker.run_until_idle()
    plan, steps = await states(db, pid)
    assert plan.state == "completed" and steps["so"].attempts == 2
    calls = lines(log)
    starts = [c for c in calls if c[0] == "start"]
    assert [c[2] for c in starts] == ["1", "2"]
    assert starts[0][1] == starts[1][1] == steps["so"].idempotency_key
    assert [c[:3] for c in calls if c[0] == "done"] == [["done", steps["so"].idempotency_key, "2"]]
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(ConnectorCall)) == 1


@pytest.mark.skipif(
    not (os.environ.get("REVFLOW_TEST_DATABASE_URL") or "").startswith("postgresql"),
    reason="two worker processes need PostgreSQL (REVFLOW_TEST_DATABASE_URL)",
)
async def test_two_worker_processes_never_run_a_step_twice(db, database_url, tmp_path):
    plans = 30
    for n in range(plans):
        await insert_plan(
            db,
            [
                {"key": "a", "kind": "callout", "action": "a"},
                {"key": "b", "kind": "callout", "action": "b", "depends_on": ["a"]},
                {"key": "c", "kind": "callout", "action": "c"},
            ],
            order_id=f"8015e00000Q{n:04d}AAJ"[:18],
        )
    log = tmp_path / "calls.log"
    procs = [await spawn(database_url, log, slow_s=0.02, lease_s=30) for _ in range(2)]
    try:
        codes = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 120)
    finally:
        for p in procs:
            if p.returncode is None:
                p.kill()
                await p.wait()
    assert codes == [0, 0]
    calls = lines(log)
    starts = Counter(c[1] for c in calls if c[0] == "start")
    assert len(starts) == 3 * plans and set(starts.values()) == {1}
    assert len({c[3] for c in calls}) == 2  # both processes did work
    async with db.read() as s:
        done = await s.scalar(
            select(func.count()).select_from(Plan).where(Plan.state == "completed")
        )
    assert done == plans
