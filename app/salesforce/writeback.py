"""The write-back flusher: drains the outbox into sObject Collections calls.

Pending items are claimed with a lease.  Updates are coalesced per record (the
newest value of each field wins) and sent up to 200 records per ``PATCH
composite/sobjects``; creates (platform events, ProcessException records) are sent
one record each, up to 200 per ``POST composite/sobjects``, never coalesced.  Both
use ``allOrNone: false`` and each record's outcome is handled on its own
(``writeback_outcomes``: sent, retried with backoff, dropped, or failed with the
reason and never retried blindly).  A failed update is sent again only together
with a newer value for the same record (it is coalesced under it).

``REQUEST_LIMIT_EXCEEDED`` pauses the flusher; Revflow's own API budget
(``budget.ApiBudget``) pauses it too, with an alert.  Nothing is lost either way:
items stay pending.

A flush sends when at least ``batch_size`` records are due, or the process's call
pacer (``pacing``, on the client's budget) has a call's credit, or the oldest due
item has waited the pacer's longest wait: idle, a status goes out at once; busy,
calls fill up and an Order's status changes coalesce.  Unpaced, the oldest item
waits ``max_delay_s`` instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import audit
from revflow.aio import Beat, no_beat, sleep_until
from revflow.clock import aware, utcnow
from revflow.config import WritebackSettings
from revflow.db.database import Database
from revflow.db.models import OutboxOperation, WritebackItem
from revflow.metrics import SALESFORCE_API_USED
from revflow.salesforce import refusals, repository
from revflow.salesforce.batching import Coalesced, chunks, coalesce, is_update, singles
from revflow.salesforce.budget import ApiBudget
from revflow.salesforce.client import COLLECTION_LIMIT, RecordError, RecordResult, SalesforceClient
from revflow.salesforce.errors import (
    RequestLimitExceeded,
    SalesforceError,
    SessionExpired,
    TransientError,
    classify,
)
from revflow.salesforce.pacing import CallPacer
from revflow.salesforce.targets import fields_for
from revflow.salesforce.writeback_outcomes import record_outcomes, release

log = logging.getLogger("revflow.writeback")
KIND = "writeback"  # the flusher's name at the call pacer


def _permanent(exc: SalesforceError) -> bool:
    """A whole-call refusal that repeating cannot fix (a bad type or field, a bad body)."""
    if isinstance(exc, TransientError | SessionExpired | RequestLimitExceeded):
        return False
    return exc.status == 400 and classify(exc.code) in ("configuration", "data")


class WritebackFlusher:
    def __init__(
        self,
        db: Database,
        client: SalesforceClient,
        *,
        interval_s: float = 1.0,
        batch_size: int = COLLECTION_LIMIT,
        max_records_per_flush: int = 2000,
        lease_s: float = 60.0,
        pause_s: float = 300.0,
        max_delay_s: float = 0.0,
        owner: str | None = None,
        status_field: str = "Fulfillment_Status__c",
        error_field: str | None = "Fulfillment_Error__c",
        writeback: WritebackSettings | None = None,
    ) -> None:
        """``writeback``: the fields per record (Order or Quote, ``targets``); without
        it every record has ``status_field`` and ``error_field``."""
        self.db = db
        self.client = client
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.max_records = max_records_per_flush
        self.lease = timedelta(seconds=lease_s)
        self.pause = timedelta(seconds=pause_s)
        self.max_delay = timedelta(seconds=max_delay_s)
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.status_field = status_field
        self.error_field = error_field  # refusal notices go here (None: none are sent)
        self.writeback = writeback
        self.paused_until: datetime | None = None
        self._rng = random.Random()
        self.calls = 0
        self.records_sent = 0  # coalesced records (or creates) sent successfully

    @property
    def budget(self) -> ApiBudget | None:
        budget = getattr(self.client, "budget", None)
        return budget if isinstance(budget, ApiBudget) else None

    async def run(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Flush every ``interval_s`` until ``stop``; a failed flush ends the loop (the
        supervisor restarts it; claimed items return after their lease)."""
        while not stop.is_set():
            await self.flush_once()
            beat()
            await sleep_until(self.interval_s, stop)
        if self.budget is not None:
            try:
                await self.budget.sync(self.db, force=True)
            except Exception:
                log.exception("saving the API usage failed")

    @property
    def pacer(self) -> CallPacer | None:
        budget = self.budget
        return budget.pacer if budget is not None else None

    async def _worth_sending(self) -> bool:
        """Enough records due to fill a call, or (paced) a call's credit is there, or
        the oldest has waited: ``max_delay_s`` unpaced, the pacer's longest wait paced."""
        pacer = self.pacer
        if pacer is None and not self.max_delay:
            return True
        now = utcnow()
        async with self.db.read() as s:
            count, oldest = await repository.due_summary(s, now)
        if not count or oldest is None:
            return False
        if pacer is not None:
            waited = (now - aware(oldest)).total_seconds()
            return pacer.may_send(count, self.batch_size, waited, time.monotonic(), KIND)
        return bool(count >= self.batch_size or aware(oldest) <= now - self.max_delay)

    async def _claim(self) -> list[WritebackItem]:
        now = utcnow()
        lock = not self.db.is_sqlite
        async with self.db.write() as s:
            items = await repository.due_items(s, now, self.max_records * 4, lock=lock)
            items += await self._revive(s, items)
            if items:
                await repository.lease_items(s, [i.id for i in items], self.owner, now + self.lease)
        return items

    async def _revive(self, s: AsyncSession, items: list[WritebackItem]) -> list[WritebackItem]:
        """Failed updates of records that have a newer pending update: sent again with it."""
        newest: dict[tuple[str, str], int] = {}
        for i in items:
            if is_update(i):
                key = (i.sobject, i.record_id)
                newest[key] = max(newest.get(key, 0), i.id)
        if not newest:
            return []
        failed = await repository.failed_updates(
            s, {rid for _, rid in newest}, lock=not self.db.is_sqlite
        )
        return [f for f in failed if f.id < newest.get((f.sobject, f.record_id), 0)]

    async def _hold_back_tail(
        self, records: list[Coalesced], items: list[WritebackItem]
    ) -> list[Coalesced]:
        """With ``max_delay_s`` (or paced), a last call that would go out part-full
        waits for more records unless one of its items has waited ``max_delay_s`` (or
        the pacer affords it after the full calls): calls stay full."""
        tail = len(records) % self.batch_size
        pacer = self.pacer
        if (pacer is None and not self.max_delay) or not tail or len(records) < self.batch_size:
            return records  # (a flush of fewer records happens only once it may)
        created = {i.id: i.created_at for i in items}
        waiting = records[-tail:]
        now = utcnow()
        oldest = aware(min(created[i] for r in waiting for i in r.item_ids))
        if pacer is not None:
            full = len(records) // self.batch_size
            waited = (now - oldest).total_seconds()
            if pacer.affords(full + 1, time.monotonic()) or waited >= pacer.longest_wait_s():
                return records
        elif oldest <= now - self.max_delay:
            return records
        ids = [i for r in waiting for i in r.item_ids]
        async with self.db.write() as s:
            await repository.unlease_items(s, ids, self.owner)
        return records[:-tail]

    async def flush_once(self) -> int:
        """Send what is due; returns the number of records sent successfully."""
        budget = self.budget
        if budget is not None:
            await budget.sync(self.db)
        if self.paused_until and utcnow() < self.paused_until:
            return 0
        if budget is not None and not budget.allows():
            await budget.pause_alert(self.db, "write-back")
            return 0
        if budget is not None and budget.paused:
            await budget.resume_alert(self.db)
        if not await self._worth_sending():
            return 0
        items = await self._claim()
        if not items:
            return 0
        stale = refusals.superseded(items)
        if stale:
            async with self.db.write() as s:
                await refusals.drop_superseded(s, stale)
            items = [i for i in items if i.id not in stale]
        records = await self._hold_back_tail(coalesce([i for i in items if is_update(i)]), items)
        batches = chunks(records, self.batch_size)
        for operation in (OutboxOperation.CREATE, OutboxOperation.NOTICE):
            alone = singles([i for i in items if i.operation == operation])
            batches += chunks(alone, self.batch_size)
        sent = 0
        for n, chunk in enumerate(batches):
            if budget is not None and not budget.allows():
                await budget.pause_alert(self.db, "write-back")
                for rest in batches[n:]:
                    await self._release(rest, delay_s=0.0, error=None, count_attempt=False)
                break
            try:
                sent += await self._send(chunk)
            except RequestLimitExceeded as exc:
                self.paused_until = utcnow() + self.pause
                log.error(
                    "Salesforce API limit reached; write-back paused",
                    extra={"until": self.paused_until.isoformat(), "error": exc.message},
                )
                for rest in batches[n:]:
                    await self._release(
                        rest,
                        delay_s=self.pause.total_seconds(),
                        error=str(exc),
                        count_attempt=False,
                    )
                async with self.db.write() as s:
                    audit.record(s, "writeback", "writeback.paused", error=str(exc))
                break
            except SalesforceError as exc:
                if _permanent(exc):  # the request itself is refused: every record fails
                    log.error("write-back call refused", extra={"error": str(exc)})
                    error = RecordError(exc.code, exc.message)
                    results = [RecordResult(None, False, [error]) for _ in chunk]
                    await self._apply(chunk, results)
                    continue
                log.warning("write-back call failed; will retry", extra={"error": str(exc)})
                await self._release(chunk, delay_s=None, error=str(exc))
        return sent

    async def _send(self, chunk: list[Coalesced]) -> int:
        results: list[RecordResult]
        if chunk[0].operation == OutboxOperation.CREATE:
            payload = [{"attributes": {"type": c.sobject}, **c.fields} for c in chunk]
            results = await self.client.create_records(payload)
        else:
            payload = [
                {"attributes": {"type": c.sobject}, "id": c.record_id, **c.fields} for c in chunk
            ]
            results = await self.client.update_records(payload)
        self.calls += 1
        if (pacer := self.pacer) is not None:
            pacer.spend(1, time.monotonic(), KIND)
        if self.client.usage.used is not None:
            SALESFORCE_API_USED.set(self.client.usage.used)
        return await self._apply(chunk, results)

    async def _apply(self, chunk: list[Coalesced], results: list[RecordResult]) -> int:
        """Record each record's outcome (``writeback_outcomes``); returns how many
        succeeded."""
        async with self.db.write() as s:
            retry = await record_outcomes(s, chunk, results, self._fields)
        for c, text in retry:
            await self._release([c], delay_s=None, error=text)
        ok = sum(1 for res in results if res.success)
        self.records_sent += ok
        return ok

    def _fields(self, record_id: str) -> tuple[str, str | None]:
        """The status and error field of the record (an Order's or a Quote's)."""
        if self.writeback is None or self.error_field is None:
            return self.status_field, self.error_field
        target = fields_for(self.writeback, record_id)
        return target.status_field, target.error_field or None

    async def _release(
        self,
        records: list[Coalesced],
        delay_s: float | None,
        error: str | None,
        count_attempt: bool = True,
    ) -> None:
        """Put records back to pending, due after a delay (jittered backoff by default)."""
        async with self.db.write() as s:
            await release(s, records, delay_s, error, self._rng, count_attempt)
