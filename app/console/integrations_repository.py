"""The integration health page's SQL: consumer channels, incidents, dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import (
    ChannelLease,
    DeadLetter,
    EventStatus,
    Incident,
    ReceivedEvent,
    ReplayCheckpoint,
)

WAITING = (EventStatus.RECEIVED, EventStatus.DEFERRED)


@dataclass(frozen=True)
class ChannelRow:
    channel: str
    replay_id: str | None
    checkpoint_at: datetime | None
    last_received_at: datetime | None
    backlog: int  # events received and not processed yet
    oldest_waiting_at: datetime | None
    owner: str | None
    lease_expires_at: datetime | None


async def channels(s: AsyncSession) -> list[ChannelRow]:
    """Each channel with a checkpoint, a lease or events: position, backlog and owner."""
    checkpoints = {r.channel: r for r in (await s.scalars(select(ReplayCheckpoint))).all()}
    leases = {r.channel: r for r in (await s.scalars(select(ChannelLease))).all()}
    last_rows = await s.execute(
        select(ReceivedEvent.channel, func.max(ReceivedEvent.received_at)).group_by(
            ReceivedEvent.channel
        )
    )
    last: dict[str, datetime] = {r[0]: r[1] for r in last_rows.all()}
    waiting = {
        r[0]: (int(r[1]), r[2])
        for r in (
            await s.execute(
                select(
                    ReceivedEvent.channel,
                    func.count(),
                    func.min(ReceivedEvent.received_at),
                )
                .where(ReceivedEvent.status.in_([str(w) for w in WAITING]))
                .group_by(ReceivedEvent.channel)
            )
        ).all()
    }
    out = []
    for name in sorted(checkpoints.keys() | leases.keys() | last.keys()):
        cp, lease = checkpoints.get(name), leases.get(name)
        count, oldest = waiting.get(name, (0, None))
        out.append(
            ChannelRow(
                channel=name,
                replay_id=cp.replay_id if cp else None,
                checkpoint_at=cp.updated_at if cp else None,
                last_received_at=last.get(name),
                backlog=count,
                oldest_waiting_at=oldest,
                owner=lease.owner if lease else None,
                lease_expires_at=lease.expires_at if lease else None,
            )
        )
    return out


async def incidents(s: AsyncSession, *, open_only: bool, limit: int = 100) -> list[Incident]:
    """Newest first."""
    q = select(Incident).order_by(Incident.id.desc()).limit(limit)
    if open_only:
        q = q.where(Incident.resolved_at.is_(None))
    return list((await s.scalars(q)).all())


async def incident(s: AsyncSession, incident_id: int) -> Incident | None:
    return await s.get(Incident, incident_id)


async def dead_letters(
    s: AsyncSession, *, include_replayed: bool, limit: int = 200
) -> list[DeadLetter]:
    """Newest first."""
    q = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if not include_replayed:
        q = q.where(DeadLetter.replayed_at.is_(None))
    return list((await s.scalars(q)).all())


async def dead_letter(s: AsyncSession, letter_id: int) -> DeadLetter | None:
    return await s.get(DeadLetter, letter_id)
