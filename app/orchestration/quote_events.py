"""Which Quote change events start work: shared by the Quote intake and the read gate
(which paces the Quote reads like the Order reads)."""

from __future__ import annotations

from revflow.ingest.events import IncomingEvent

QUOTE, LINE = "Quote", "QuoteLineItem"
ENTITIES = frozenset({QUOTE, LINE})


def reached_status(event: IncomingEvent, statuses: list[str]) -> bool:
    """A Quote whose Status became one of ``statuses`` in this change."""
    if event.entity != QUOTE or event.payload.get("Status") not in statuses:
        return False
    return event.change_type == "CREATE" or (
        event.change_type == "UPDATE" and "Status" in event.changed_fields
    )
