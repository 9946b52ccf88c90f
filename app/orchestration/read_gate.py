"""The intake's side of the call pacer: whether a batch of received events reads its
orders (and Quotes) now or waits to read more of them in one query (see
``salesforce.pacing``)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from revflow.clock import aware, utcnow
from revflow.config import Settings
from revflow.db.models import ReceivedEvent
from revflow.ingest.events import IncomingEvent, is_activation, needs_read
from revflow.orchestration.batches import event_of
from revflow.orchestration.quote_events import reached_status
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.orders import IDS_PER_QUERY
from revflow.salesforce.pacing import CallPacer

KIND = "intake"  # the order reads' name at the call pacer


class ReadGate:
    def __init__(self, client: SalesforceClient, settings: Settings) -> None:
        self.client = client
        self.ingest = settings.ingest
        # a Quote reaching these statuses is new work too (it earns calls like an Order)
        self.quote_statuses = settings.quotes.statuses if settings.quotes.enabled else []
        self.earned_through = 0  # the last inbox row whose activations earned calls

    @property
    def pacer(self) -> CallPacer | None:
        return self.client.budget.pacer  # the process's one pacer (None: unpaced)

    def hold(self, rows: Sequence[ReceivedEvent], limit: int) -> bool:
        """Whether a batch that is not full waits for more, so that one order query
        reads them all: paced, until the pacer has a call for it; unpaced, until its
        oldest event is ``ingest.batch_delay_s`` old.  A batch that needs no order
        read (echoes, cancellations) never waits."""
        pacer = self.pacer
        if pacer is None:
            delay = self.ingest.batch_delay_s
            if delay <= 0 or len(rows) >= limit:
                return False
            return waited_s(rows) < delay
        now = time.monotonic()
        reads = 0
        for row in rows:
            event = event_of(row)
            if row.id > self.earned_through and self._new_work(event):
                pacer.earn(len(event.record_ids), now)  # each activated order earns calls
            if needs_read(event) or self._quote_read(event):
                reads += len(event.record_ids) or 1
        self.earned_through = max(self.earned_through, rows[-1].id)
        if not reads or len(rows) >= limit:
            return False
        return not pacer.may_send(reads, IDS_PER_QUERY, waited_s(rows), now, KIND)

    def _new_work(self, event: IncomingEvent) -> bool:
        return is_activation(event) or self._quote_read(event)

    def _quote_read(self, event: IncomingEvent) -> bool:
        """A Quote reaching a trigger status: ``QuoteIntake.read`` reads it."""
        return bool(self.quote_statuses) and reached_status(event, self.quote_statuses)

    def spent(self, reads: int) -> None:
        """``reads`` orders were read: the pacer is told (one call per 200 ids)."""
        spend_reads(self.client, reads)


def spend_reads(client: SalesforceClient, reads: int) -> None:
    """``reads`` records were read by the intake (Orders or Quotes, one call per 200
    ids): the client's pacer, if any, is told."""
    if reads and (pacer := client.budget.pacer) is not None:
        pacer.spend(math.ceil(reads / IDS_PER_QUERY), time.monotonic(), KIND)


def waited_s(rows: Sequence[ReceivedEvent]) -> float:
    return (utcnow() - aware(rows[0].received_at)).total_seconds()
