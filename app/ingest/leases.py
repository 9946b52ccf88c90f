"""Channel leases: one consumer per channel across every Revflow process.

A process consumes its channels only while it holds all their leases.  It renews
them while it runs; when it dies they expire and a standby takes over.  Every
batch it records re-checks the lease in the same transaction (a fencing check),
so a process that lost its lease cannot write what the new owner also writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.ingest import repository
from revflow.ingest.errors import LeaseLost


class _NotAll(Exception):
    pass


class ChannelLeases:
    def __init__(self, db: Database, owner: str, channels: Sequence[str], lease_s: float) -> None:
        self.db = db
        self.owner = owner
        self.channels = list(channels)
        self.lease = timedelta(seconds=lease_s)

    async def acquire(self) -> bool:
        """Take every channel's lease if each is free, expired or already ours."""
        now = utcnow()
        try:
            async with self.db.write() as s:
                await self._take_all(s, now)
        except _NotAll:
            return False
        return True

    async def _take_all(self, s: AsyncSession, now: datetime) -> None:
        taken = 0
        for channel in self.channels:
            taken += await repository.take_lease(s, channel, self.owner, now, now + self.lease)
        if taken != len(self.channels):
            raise _NotAll  # roll back the ones we did take

    async def renew(self, session: AsyncSession | None = None) -> None:
        """Extend the leases; raise LeaseLost if any is no longer ours."""
        if session is not None:
            await self._renew(session)
            return
        async with self.db.write() as s:
            await self._renew(s)

    async def _renew(self, s: AsyncSession) -> None:
        kept = await repository.extend_leases(s, self.channels, self.owner, utcnow() + self.lease)
        if kept != len(self.channels):
            raise LeaseLost(f"lease on {self.channels} lost by {self.owner}")

    async def release(self) -> None:
        async with self.db.write() as s:
            await repository.extend_leases(s, self.channels, self.owner, utcnow())

    async def holders(self) -> dict[str, str]:
        async with self.db.read() as s:
            return await repository.lease_holders(s)
