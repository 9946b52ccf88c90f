"""The API budget's own sync loop: every process records its calls and sees the
others', whether or not it holds the write-back flusher (which syncs too)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from revflow.aio import no_beat
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.salesforce import repository
from revflow.salesforce.budget import ApiBudget, hour_of


async def recorded(db: Database) -> int:
    async with db.read() as s:
        return await repository.calls_since(s, hour_of(utcnow()) - timedelta(hours=1))


async def test_the_loop_records_this_process_calls_and_reads_the_others(db: Database) -> None:
    mine, other = ApiBudget(sync_interval_s=0.05), ApiBudget()
    other.count("api-usage=10/1000")
    await other.sync(db, force=True)  # another process's call, already recorded
    stop = asyncio.Event()
    loop = asyncio.ensure_future(mine.run(db, stop, no_beat))
    mine.count("api-usage=12/1000")
    mine.count(None)
    for _ in range(100):  # synced within a few intervals, while running
        if await recorded(db) == 3:
            break
        await asyncio.sleep(0.05)
    assert await recorded(db) == 3
    assert mine.calls == 3  # its own two and the other process's one
    mine.count(None)  # made just before the stop: saved by the last, forced sync
    stop.set()
    await asyncio.wait_for(loop, 5)
    assert await recorded(db) == 4
