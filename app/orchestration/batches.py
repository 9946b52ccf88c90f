"""One inbox batch: its events grouped by Salesforce transaction, and what became of
each event and order (written back to the inbox in the plans' transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.clock import utcnow
from revflow.db.models import EventStatus, Incident, ReceivedEvent
from revflow.ingest.events import IncomingEvent
from revflow.orchestration import repository
from revflow.orchestration.recovery import Recovery

DETAIL_CAP = 500  # order ids kept in one incident's detail


@dataclass(frozen=True)
class OrderOutcome:
    """What became of one order: the status and note for the events that named it."""

    status: str
    note: str | None
    created: bool = False


PLANNED = OrderOutcome(EventStatus.PROCESSED, "plan already exists")


def event_of(row: ReceivedEvent) -> IncomingEvent:
    header = row.payload.get("ChangeEventHeader") or {}
    return IncomingEvent(
        channel=row.channel,
        replay_id=row.replay_id,
        dedupe_key=row.dedupe_key,
        payload=row.payload,
        entity=row.entity,
        change_type=row.change_type,
        record_ids=tuple(row.record_ids or ()),
        transaction_key=row.transaction_key,
        sequence_number=row.sequence_number,
        change_origin=str(header.get("changeOrigin") or ""),
        commit_user=header.get("commitUser"),
        changed_fields=tuple(header.get("changedFields") or ()),
    )


def group_transactions(rows: Sequence[ReceivedEvent], full: bool) -> list[list[ReceivedEvent]]:
    """Rows (in id order) grouped by transaction, each group in sequence order.

    When the batch is ``full`` the transaction of the last row may continue beyond it,
    so it is held back, unless it is the only transaction in the batch.  Events
    without a transaction key (platform events) stand alone.
    """
    groups: dict[str | tuple[str, int], list[ReceivedEvent]] = {}
    for row in rows:
        key = row.transaction_key if row.transaction_key is not None else ("", row.id)
        groups.setdefault(key, []).append(row)
    trailing = rows[-1].transaction_key if rows else None
    if full and trailing is not None and len(groups) > 1:
        del groups[trailing]
    return [sorted(g, key=lambda r: (r.sequence_number or 0, r.id)) for g in groups.values()]


@dataclass
class BatchWork:
    """What a batch decided: event outcomes, orders to plan and why, recoveries."""

    outcome: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    activated: dict[str, list[int]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    recoveries: list[tuple[ReceivedEvent, Recovery]] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)  # Orders whose data changed
    items: dict[str, list[int]] = field(default_factory=dict)  # OrderItem id -> event ids
    unplanned: set[str] = field(default_factory=set)  # activated, found without a plan

    def want(self, order_ids: Iterable[str], reason: str) -> None:
        for oid in order_ids:
            self.reasons.setdefault(oid, reason)


async def finish_batch(
    work: BatchWork, s: AsyncSession, outcomes: Mapping[str, OrderOutcome]
) -> None:
    """Inside the plans' transaction: incidents for gaps/overflows; mark the events."""
    now = utcnow()
    for order_id, row_ids in work.activated.items():
        o = outcomes[order_id]
        for row_id in row_ids:
            work.outcome.setdefault(row_id, (o.status, o.note))
    for row, rec in work.recoveries:
        results = {oid: outcomes[oid] for oid in rec.order_ids}
        created = sum(o.created for o in results.values())
        recovery = f"{rec.action}; {created} plan(s) created"
        work.outcome.setdefault(row.id, (EventStatus.PROCESSED, f"{rec.kind}: {recovery}"))
        orders = {oid: o.note or "plan created" for oid, o in results.items()}
        s.add(
            Incident(
                kind=rec.kind,
                channel=row.channel,
                entity=row.entity,
                detail={**rec.detail, "orders": dict(list(orders.items())[:DETAIL_CAP])},
                recovery=recovery,
                resolved_at=now,
            )
        )
    groups: dict[tuple[str, str | None], list[int]] = {}
    for event_id, result in work.outcome.items():
        groups.setdefault(result, []).append(event_id)
    for (new_status, text), ids in groups.items():
        await repository.mark_events(s, ids, new_status, text, now)
