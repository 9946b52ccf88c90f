"""The inbox: record a batch of events and advance the channels' replay ids together.

This is what makes consumption exactly-once in effect: an event redelivered after
a crash finds its dedupe key taken and is ignored, and the replay id is never
ahead of what was durably recorded.  The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.ingest import repository
from revflow.ingest.events import IncomingEvent
from revflow.ingest.signals import record_signals


@dataclass
class Batch:
    """What one transaction records: new events, unreadable messages, replay ids."""

    events: list[IncomingEvent] = field(default_factory=list)
    bad: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # channel, why
    checkpoints: dict[str, str] = field(default_factory=dict)  # checkpoint key -> replay id
    skipped: dict[str, str] = field(default_factory=dict)  # key -> note: echoes, inert events


async def record_batch(
    session: AsyncSession, batch: Batch, correlation_fields: Mapping[str, str]
) -> set[str]:
    """Record the batch in the caller's transaction; returns the dedupe keys that were new.

    Malformed messages go to the dead letters; platform events are also stored as
    signals for the plans waiting on them.  Echoes and inert events are stored already
    skipped: the intake never reads them (``consumer``).
    """
    new_keys = await repository.insert_events(session, batch.events, batch.skipped)
    await record_signals(
        session, [e for e in batch.events if e.dedupe_key in new_keys], correlation_fields
    )
    for channel, reason, message in batch.bad:
        repository.add_dead_letter(session, "ingest", reason, message, reference=channel)
    for key, replay_id in batch.checkpoints.items():
        await repository.advance_checkpoint(session, key, replay_id)
    return new_keys


async def record_events(session: AsyncSession, events: Sequence[IncomingEvent]) -> set[str]:
    """Insert events (deduped); the dedupe keys that were new."""
    return await repository.insert_events(session, events)
