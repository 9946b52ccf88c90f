"""The supervised retention loop purges on its interval and beats."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.models import PlanState
from revflow.retention.loop import RetentionLoop
from revflow.retention.settings import RetentionSettings
from revflow.supervisor import Supervisor
from tests.retention.test_purge import order


async def test_loop_purges_under_the_supervisor(db: Database) -> None:
    await order(db, "801000000000001", PlanState.COMPLETED, utcnow() - timedelta(days=10))
    loop = RetentionLoop(db, RetentionSettings(payloads_days=7, interval_s=3600))
    sup, stop = Supervisor(), asyncio.Event()
    sup.add("retention", loop.run, interval_s=3600)
    tasks = sup.start(stop)
    for _ in range(200):
        if sup.health("retention").state == "up":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*tasks)
    assert sup.health("retention").state in ("up", "finished", "stopped")
    assert set((await loop.run_once()).values()) == {0}  # the loop's pass purged it all


def test_off_without_an_age(db: Database) -> None:
    with pytest.raises(ValueError, match="retention is off"):
        RetentionLoop(db, RetentionSettings())
