"""Channel leases: one consumer per channel across every Revflow process.

A process consumes its channels only while it holds all their leases.  It renews
them while it runs; when it dies they expire and a standby takes over.  Every
batch it records re-checks the lease in the same transaction (a fencing check),
so a process that lost its lease cannot write what the new owner also writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import utcnow
from app.db.database import Database
from app.db.models import ChannelLease
from app.db.upsert import upsert


class _NotAll(Exception):
    pass


class LeaseLost(Exception):
    """Another process holds the channel now; stop consuming."""


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
        taken: list[str] = []
        for channel in self.channels:
            stmt = upsert(s)(ChannelLease).values(
                channel=channel, owner=self.owner, expires_at=now + self.lease, acquired_at=now
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["channel"],
                set_={"owner": self.owner, "expires_at": now + self.lease, "acquired_at": now},
                where=or_(ChannelLease.expires_at < now, ChannelLease.owner == self.owner),
            ).returning(ChannelLease.channel)
            taken.extend((await s.scalars(stmt)).all())
        if len(taken) != len(self.channels):
            raise _NotAll  # roll back the ones we did take

    async def renew(self, session: AsyncSession | None = None) -> None:
        """Extend the leases; raise LeaseLost if any is no longer ours."""
        if session is not None:
            await self._renew(session)
            return
        async with self.db.write() as s:
            await self._renew(s)

    async def _renew(self, s: AsyncSession) -> None:
        result = await s.execute(
            update(ChannelLease)
            .where(ChannelLease.channel.in_(self.channels), ChannelLease.owner == self.owner)
            .values(expires_at=utcnow() + self.lease)
        )
        if result.rowcount != len(self.channels):  # type: ignore[attr-defined]
            raise LeaseLost(f"lease on {self.channels} lost by {self.owner}")

    async def release(self) -> None:
        async with self.db.write() as s:
            await s.execute(
                update(ChannelLease)
                .where(ChannelLease.channel.in_(self.channels), ChannelLease.owner == self.owner)
                .values(expires_at=utcnow())
            )

    async def holders(self) -> dict[str, str]:
        async with self.db.read() as s:
            rows = (await s.execute(select(ChannelLease.channel, ChannelLease.owner))).all()
        return {r.channel: r.owner for r in rows}
