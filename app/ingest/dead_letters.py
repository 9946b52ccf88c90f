"""Dead letters: list them, and replay them into the inbox once they can be read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.clock import utcnow
from revflow.db.models import DeadLetter
from revflow.ingest import repository
from revflow.ingest.events import MalformedEvent, parse_cometd
from revflow.orchestration.actors import check_actor


@dataclass(frozen=True)
class ReplayOutcome:
    id: int
    ok: bool
    message: str


async def list_dead_letters(s: AsyncSession, include_replayed: bool = False) -> list[DeadLetter]:
    return await repository.dead_letters(s, include_replayed=include_replayed)


async def replay(s: AsyncSession, ids: list[int] | None = None) -> list[ReplayOutcome]:
    """Parse each dead letter again; those that parse go into the inbox (deduped).
    Runs in the caller's transaction."""
    outcomes = []
    for letter in await repository.dead_letters(s, ids=ids):
        try:
            event = parse_cometd(letter.payload)
        except MalformedEvent as exc:
            outcomes.append(ReplayOutcome(letter.id, False, f"still unreadable: {exc}"))
            continue
        new = await repository.insert_events(s, [event])
        letter.replayed_at = utcnow()
        note = "recorded in the inbox" if new else "already in the inbox (duplicate)"
        outcomes.append(ReplayOutcome(letter.id, True, note))
    return outcomes


async def replay_audited(
    s: AsyncSession, ids: list[int], *, actor: str, reason: str
) -> list[ReplayOutcome]:
    """``replay`` by a person: each outcome audited (``dead_letter.replay``) with the
    actor and reason, in the caller's transaction."""
    check_actor(actor, reason)
    outcomes = await replay(s, ids)
    for o in outcomes:
        audit.record(
            s,
            actor,
            "dead_letter.replay",
            dead_letter=o.id,
            ok=o.ok,
            outcome=o.message,
            reason=reason,
        )
    return outcomes
