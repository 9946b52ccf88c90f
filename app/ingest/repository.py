"""Ingest's named queries: the inbox, replay checkpoints, dead letters, signals,
channel leases and the sweep's cursor.

Every function takes the caller's session and neither commits nor rolls back: the
loop or command that calls it owns the transaction (``db.write()``/``db.read()``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import aware, utcnow
from revflow.db.models import (
    ChannelLease,
    DeadLetter,
    EventStatus,
    ReceivedEvent,
    ReconcileCursor,
    ReplayCheckpoint,
    Signal,
)
from revflow.db.upsert import upsert
from revflow.ingest.events import IncomingEvent

# -- the inbox (received_events) ------------------------------------------------------


async def insert_event(session: AsyncSession, event: IncomingEvent) -> bool:
    """Insert the event unless its dedupe key is known; True if it was new."""
    stmt = (
        upsert(session)(ReceivedEvent)
        .values(
            dedupe_key=event.dedupe_key,
            channel=event.channel,
            replay_id=event.replay_id,
            entity=event.entity,
            change_type=event.change_type,
            record_ids=list(event.record_ids),
            transaction_key=event.transaction_key,
            sequence_number=event.sequence_number,
            payload=event.payload,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(ReceivedEvent.id)
    )
    return (await session.execute(stmt)).first() is not None


async def insert_events(
    session: AsyncSession,
    events: Sequence[IncomingEvent],
    skipped: Mapping[str, str] | None = None,
) -> set[str]:
    """Insert many events (an executemany); returns the dedupe keys that were new.

    ``skipped``: dedupe key -> note of events recorded as handled already (echoes)."""
    if not events:
        return set()
    now = utcnow()
    notes = skipped or {}
    rows = [
        {
            "dedupe_key": e.dedupe_key,
            "channel": e.channel,
            "replay_id": e.replay_id,
            "entity": e.entity,
            "change_type": e.change_type,
            "record_ids": list(e.record_ids),
            "transaction_key": e.transaction_key,
            "sequence_number": e.sequence_number,
            "payload": e.payload,
            "status": EventStatus.SKIPPED if e.dedupe_key in notes else EventStatus.RECEIVED,
            "note": notes.get(e.dedupe_key),
            "received_at": now,
            "processed_at": now if e.dedupe_key in notes else None,
        }
        for e in events
    ]
    # parameters, not ``.values(rows)``: one cached statement for any batch size, and
    # no walk of every payload to build it
    stmt = (
        upsert(session)(ReceivedEvent)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(ReceivedEvent.dedupe_key)
    )
    return set((await session.scalars(stmt, rows)).all())


async def last_received_at(session: AsyncSession, channel: str) -> datetime | None:
    """When the channel's newest recorded event arrived."""
    return await session.scalar(
        select(func.max(ReceivedEvent.received_at)).where(ReceivedEvent.channel == channel)
    )


# -- replay checkpoints -----------------------------------------------------------------


async def advance_checkpoint(session: AsyncSession, channel: str, replay_id: str) -> None:
    stmt = upsert(session)(ReplayCheckpoint).values(channel=channel, replay_id=replay_id)
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel"], set_={"replay_id": stmt.excluded.replay_id}
    )
    await session.execute(stmt)


async def get_checkpoint(session: AsyncSession, channel: str) -> str | None:
    return await session.scalar(
        select(ReplayCheckpoint.replay_id).where(ReplayCheckpoint.channel == channel)
    )


# -- dead letters -----------------------------------------------------------------------


def add_dead_letter(
    session: AsyncSession, source: str, reason: str, payload: Any, reference: str | None = None
) -> None:
    session.add(
        DeadLetter(
            source=source,
            reference=reference,
            reason=reason,
            payload=payload if isinstance(payload, dict) else {"raw": repr(payload)},
        )
    )


async def dead_letters(
    session: AsyncSession, *, include_replayed: bool = False, ids: Sequence[int] | None = None
) -> list[DeadLetter]:
    """Dead letters oldest first: those not replayed yet unless ``include_replayed``;
    only ``ids`` when given."""
    q = select(DeadLetter).order_by(DeadLetter.id)
    if not include_replayed:
        q = q.where(DeadLetter.replayed_at.is_(None))
    if ids:
        q = q.where(DeadLetter.id.in_(ids))
    return list((await session.scalars(q)).all())


# -- signals ------------------------------------------------------------------------------


async def insert_signals(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert signals, ignoring those whose (source, dedupe_key) is known."""
    await session.execute(
        upsert(session)(Signal)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
    )


async def insert_signal(session: AsyncSession, **values: Any) -> int | None:
    """Insert one signal; its id, or None if its (source, dedupe_key) is known."""
    result = await session.execute(
        upsert(session)(Signal)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
        .returning(Signal.id)
    )
    return result.scalar_one_or_none()


# -- channel leases -----------------------------------------------------------------------


async def take_lease(
    session: AsyncSession, channel: str, owner: str, now: datetime, expires_at: datetime
) -> bool:
    """Take the channel's lease if it is free, expired or already ``owner``'s."""
    stmt = upsert(session)(ChannelLease).values(
        channel=channel, owner=owner, expires_at=expires_at, acquired_at=now
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel"],
        set_={"owner": owner, "expires_at": expires_at, "acquired_at": now},
        where=or_(ChannelLease.expires_at < now, ChannelLease.owner == owner),
    ).returning(ChannelLease.channel)
    return bool((await session.scalars(stmt)).all())


async def extend_leases(
    session: AsyncSession, channels: Sequence[str], owner: str, expires_at: datetime
) -> int:
    """Move the expiry of ``owner``'s leases on ``channels``; how many were still its."""
    result = await session.execute(
        update(ChannelLease)
        .where(ChannelLease.channel.in_(channels), ChannelLease.owner == owner)
        .values(expires_at=expires_at)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def lease_holders(session: AsyncSession) -> dict[str, str]:
    rows = (await session.execute(select(ChannelLease.channel, ChannelLease.owner))).all()
    return {r.channel: r.owner for r in rows}


# -- the sweep's cursor -------------------------------------------------------------------


async def get_cursor(session: AsyncSession, entity: str) -> ReconcileCursor | None:
    return await session.get(ReconcileCursor, entity)


async def advance_cursor(session: AsyncSession, entity: str, top: datetime) -> None:
    """Move the entity's cursor to ``top`` unless it is further already."""
    row = await session.get(ReconcileCursor, entity)
    if row is None:
        session.add(ReconcileCursor(entity=entity, last_modstamp=top))
    elif aware(row.last_modstamp) < top:
        row.last_modstamp = top
