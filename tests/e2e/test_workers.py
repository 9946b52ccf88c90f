"""``revflow run --workers 3``: three processes share the steps, none runs one twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from revflow.db.database import Database
from revflow.db.models import Step
from revflow.demo import DemoEnvironment
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not PG_URL, reason="worker processes need PostgreSQL (SQLite refuses)"),
]

ORDERS = 60


def _records(log_path: Path) -> list[dict[str, Any]]:
    lines = log_path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def _all_started(log_path: Path, processes: int, timeout_s: float = 60.0) -> bool:
    """Every process has logged "revflow started" (the extra ones start after the main)."""
    for _ in range(int(timeout_s * 10)):
        if sum(r.get("msg") == "revflow started" for r in _records(log_path)) >= processes:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_three_processes_complete_every_order_and_run_no_step_twice(database_url):
    # a few steps at a time per process, so that no one process can lease them all
    # before the others' next poll (on a quiet machine the main one did, at 32)
    async with DemoEnvironment(
        database_url=database_url,
        seed=5,
        separate_process=True,
        workers=3,
        settings_overrides={"worker": {"concurrency": 2}},
    ) as env:
        assert env.process is not None
        assert await _all_started(env.process.log_path, 3), _records(env.process.log_path)[-5:]
        ids = await env.create_orders(ORDERS)
        await env.activate(ids)
        done = await env.wait_until_done(ids, timeout_s=120, final=("Completed",))
        assert done, await env.explain([i for i in ids if env.order_status(i) != "Completed"])
        await env.process.stop()  # the children stop with it and log their share
        records = _records(env.process.log_path)
        deliveries = list(env.erp.deliveries)
        documents = env.erp.stats()["documents"]
    stopped = [r for r in records if r.get("msg") == "revflow stopped"]
    assert sorted(r["steps_only"] for r in stopped) == [False, True, True]
    shares = [r["steps_executed"] for r in stopped]
    assert sum(1 for n in shares if n > 0) >= 2, shares  # the work was spread
    # every webhook-id reached the ERP once: no step ran twice, none was retried
    assert [d for d in deliveries if d.attempt != 1] == []
    assert len({d.webhook_id for d in deliveries}) == len(deliveries) == 2 * ORDERS
    db = Database(database_url)
    async with db.read() as s:
        steps = await s.scalar(select(func.count()).select_from(Step))
    await db.dispose()
    assert sum(shares) == steps  # each step's outcome committed by exactly one process
    for doc_type in ("sales_order", "invoice"):
        assert documents[doc_type] == dict.fromkeys(ids, 1)
