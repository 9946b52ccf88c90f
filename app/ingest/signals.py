"""Platform events (and, later, inbound callbacks) kept as signals for waiting plan steps.

A signal carries a correlation key read from a configured field of the event
(``ingest.correlation_fields``: channel -> field name); a plan step that waits for
that key picks the signal up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.ingest import repository
from revflow.ingest.events import IncomingEvent


async def record_signals(
    session: AsyncSession, events: Sequence[IncomingEvent], correlation_fields: Mapping[str, str]
) -> int:
    rows = [
        {
            "source": "platform_event",
            "name": e.channel,
            "dedupe_key": e.dedupe_key,
            "correlation_key": _key(e, correlation_fields.get(e.channel)),
            "payload": e.payload,
        }
        for e in events
        if not e.is_change_event
    ]
    if not rows:
        return 0
    await repository.insert_signals(session, rows)
    return len(rows)


def _key(event: IncomingEvent, field: str | None) -> str | None:
    if not field:
        return None
    value = event.payload.get(field)
    return str(value) if value is not None else None
