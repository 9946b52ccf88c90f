"""The inbox: record an event and advance the channel's replay id in one transaction.

This is what makes consumption exactly-once in effect: an event redelivered after
a crash finds its dedupe key taken and is ignored, and the replay id is never
ahead of what was durably recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import utcnow
from app.db.models import DeadLetter, ReceivedEvent, ReplayCheckpoint
from app.db.upsert import upsert
from app.ingest.events import IncomingEvent


async def record_event(session: AsyncSession, event: IncomingEvent) -> bool:
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


async def record_events(session: AsyncSession, events: list[IncomingEvent]) -> set[str]:
    """Insert many events in one statement; returns the dedupe keys that were new."""
    if not events:
        return set()
    stmt = (
        upsert(session)(ReceivedEvent)
        .values(
            [
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
                    "status": "received",
                    "received_at": utcnow(),
                }
                for e in events
            ]
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(ReceivedEvent.dedupe_key)
    )
    return set((await session.scalars(stmt)).all())


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


def dead_letter(
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
