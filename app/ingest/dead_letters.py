"""Dead letters: list them, and replay them into the inbox once they can be read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.clock import utcnow
from app.db.database import Database
from app.db.models import DeadLetter
from app.ingest.events import MalformedEvent, parse_cometd
from app.ingest.inbox import record_events


@dataclass(frozen=True)
class ReplayOutcome:
    id: int
    ok: bool
    message: str


async def list_dead_letters(db: Database, include_replayed: bool = False) -> list[DeadLetter]:
    q = select(DeadLetter).order_by(DeadLetter.id)
    if not include_replayed:
        q = q.where(DeadLetter.replayed_at.is_(None))
    async with db.read() as s:
        return list((await s.scalars(q)).all())


async def replay(db: Database, ids: list[int] | None = None) -> list[ReplayOutcome]:
    """Parse each dead letter again; those that parse go into the inbox (deduped)."""
    outcomes = []
    async with db.write() as s:
        q = select(DeadLetter).where(DeadLetter.replayed_at.is_(None)).order_by(DeadLetter.id)
        if ids:
            q = q.where(DeadLetter.id.in_(ids))
        for letter in (await s.scalars(q)).all():
            try:
                event = parse_cometd(letter.payload)
            except MalformedEvent as exc:
                outcomes.append(ReplayOutcome(letter.id, False, f"still unreadable: {exc}"))
                continue
            new = await record_events(s, [event])
            letter.replayed_at = utcnow()
            note = "recorded in the inbox" if new else "already in the inbox (duplicate)"
            outcomes.append(ReplayOutcome(letter.id, True, note))
    return outcomes
