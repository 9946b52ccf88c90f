"""The supervised ``retention`` loop: purge every ``retention.interval_s``."""

from __future__ import annotations

import asyncio

from revflow.aio import Beat, sleep_until
from revflow.db.database import Database
from revflow.retention.purge import cutoff_for, purge
from revflow.retention.settings import RetentionSettings


class RetentionLoop:
    def __init__(self, db: Database, settings: RetentionSettings) -> None:
        if settings.payloads_days is None:
            raise ValueError("retention is off (retention.payloads_days is not set)")
        self.db, self.settings, self.days = db, settings, settings.payloads_days

    async def run_once(self) -> dict[str, int]:
        return await purge(
            self.db, cutoff_for(self.days), actor="system", batch_size=self.settings.batch_size
        )

    async def run(self, stop: asyncio.Event, beat: Beat) -> None:
        while not stop.is_set():
            await self.run_once()
            beat()
            await sleep_until(self.settings.interval_s, stop)
