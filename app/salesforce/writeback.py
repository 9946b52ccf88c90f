"""The write-back flusher: drains the outbox into sObject Collections calls.

Pending items are claimed with a lease, coalesced per record (the newest value of
each field wins), and sent up to 200 records per call with ``allOrNone: false``.
Each record's outcome is handled on its own:

- success: its items are marked sent;
- ``UNABLE_TO_LOCK_ROW``: retried later with jittered backoff;
- ``ENTITY_IS_DELETED``: dropped and audited;
- anything else (validation rules, bad fields): failed with the error, audited,
  not retried blindly.

``REQUEST_LIMIT_EXCEEDED`` pauses the flusher; nothing is lost, items stay pending.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from app import audit
from app.aio import sleep_until
from app.clock import utcnow
from app.db.database import Database
from app.db.models import OutboxState, WritebackItem
from app.metrics import SALESFORCE_API_USED, WRITEBACK_RECORDS
from app.salesforce.client import COLLECTION_LIMIT, SalesforceClient
from app.salesforce.errors import RequestLimitExceeded, SalesforceError

log = logging.getLogger("revflow.writeback")

RETRYABLE = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
DROP = frozenset({"ENTITY_IS_DELETED"})


@dataclass
class Coalesced:
    sobject: str
    record_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    item_ids: list[int] = field(default_factory=list)
    attempts: int = 0


def coalesce(items: list[WritebackItem]) -> list[Coalesced]:
    """One update per record, newest value per field winning (items in id order)."""
    merged: dict[tuple[str, str], Coalesced] = {}
    for item in sorted(items, key=lambda i: i.id):
        key = (item.sobject, item.record_id)
        c = merged.setdefault(key, Coalesced(item.sobject, item.record_id))
        c.fields.update(item.fields)
        c.item_ids.append(item.id)
        c.attempts = max(c.attempts, item.attempts)
    return list(merged.values())


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
        owner: str | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.interval_s = interval_s
        self.batch_size = batch_size
        self.max_records = max_records_per_flush
        self.lease = timedelta(seconds=lease_s)
        self.pause = timedelta(seconds=pause_s)
        self.owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.paused_until: datetime | None = None
        self._rng = random.Random()
        self.calls = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.flush_once()
            except Exception:
                log.exception("write-back flush failed")
            await sleep_until(self.interval_s, stop)

    async def _claim(self) -> list[WritebackItem]:
        now = utcnow()
        due = and_(
            WritebackItem.state == OutboxState.PENDING,
            WritebackItem.due_at <= now,
            or_(WritebackItem.lease_expires_at.is_(None), WritebackItem.lease_expires_at < now),
        )
        q = select(WritebackItem).where(due).order_by(WritebackItem.id).limit(self.max_records * 4)
        if not self.db.is_sqlite:
            q = q.with_for_update(skip_locked=True)
        async with self.db.write() as s:
            items = list((await s.scalars(q)).all())
            if items:
                await s.execute(
                    update(WritebackItem)
                    .where(WritebackItem.id.in_([i.id for i in items]))
                    .values(lease_owner=self.owner, lease_expires_at=now + self.lease)
                )
        return items

    async def flush_once(self) -> int:
        """Send what is due; returns the number of records sent successfully."""
        if self.paused_until and utcnow() < self.paused_until:
            return 0
        items = await self._claim()
        if not items:
            return 0
        records = coalesce(items)
        sent = 0
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            try:
                sent += await self._send(chunk)
            except RequestLimitExceeded as exc:
                self.paused_until = utcnow() + self.pause
                log.error(
                    "Salesforce API limit reached; write-back paused",
                    extra={"until": self.paused_until.isoformat(), "error": exc.message},
                )
                await self._release(
                    records[start:],
                    delay_s=self.pause.total_seconds(),
                    error=str(exc),
                    count_attempt=False,
                )
                async with self.db.write() as s:
                    audit.record(s, "writeback", "writeback.paused", error=str(exc))
                break
            except SalesforceError as exc:
                log.warning("write-back call failed; will retry", extra={"error": str(exc)})
                await self._release(chunk, delay_s=None, error=str(exc))
        return sent

    async def _send(self, chunk: list[Coalesced]) -> int:
        payload = [
            {"attributes": {"type": c.sobject}, "id": c.record_id, **c.fields} for c in chunk
        ]
        results = await self.client.update_records(payload)
        self.calls += 1
        if self.client.usage.used is not None:
            SALESFORCE_API_USED.set(self.client.usage.used)
        now = utcnow()
        sent_ids: list[int] = []
        retry: list[tuple[Coalesced, str]] = []
        async with self.db.write() as s:
            for c, res in zip(chunk, results, strict=True):
                if res.success:
                    sent_ids.extend(c.item_ids)
                    WRITEBACK_RECORDS.labels(outcome="sent").inc()
                    continue
                err = res.errors[0] if res.errors else None
                code = err.status_code if err else "UNKNOWN"
                text = f"{code}: {err.message}" if err else code
                if code in RETRYABLE:
                    retry.append((c, text))
                    WRITEBACK_RECORDS.labels(outcome="retry").inc()
                    continue
                state = OutboxState.DROPPED if code in DROP else OutboxState.FAILED
                await s.execute(
                    update(WritebackItem)
                    .where(WritebackItem.id.in_(c.item_ids))
                    .values(state=state, error=text, lease_owner=None, lease_expires_at=None)
                )
                audit.record(
                    s,
                    "writeback",
                    f"writeback.{state}",
                    order_id=c.record_id,
                    fields=c.fields,
                    error=text,
                )
                WRITEBACK_RECORDS.labels(outcome=str(state)).inc()
            if sent_ids:
                await s.execute(
                    update(WritebackItem)
                    .where(WritebackItem.id.in_(sent_ids))
                    .values(
                        state=OutboxState.SENT, sent_at=now, lease_owner=None, lease_expires_at=None
                    )
                )
        for c, text in retry:
            await self._release([c], delay_s=None, error=text)
        return sum(1 for _c, res in zip(chunk, results, strict=True) if res.success)

    async def _release(
        self,
        records: list[Coalesced],
        delay_s: float | None,
        error: str,
        count_attempt: bool = True,
    ) -> None:
        """Put records back to pending, due after a delay (jittered backoff by default)."""
        async with self.db.write() as s:
            for c in records:
                attempts = c.attempts + (1 if count_attempt else 0)
                delay = (
                    delay_s
                    if delay_s is not None
                    else min(0.5 * 2**attempts, 300.0) * self._rng.uniform(0.5, 1.5)
                )
                await s.execute(
                    update(WritebackItem)
                    .where(WritebackItem.id.in_(c.item_ids))
                    .values(
                        attempts=attempts,
                        error=error,
                        lease_owner=None,
                        lease_expires_at=None,
                        due_at=utcnow() + timedelta(seconds=delay),
                    )
                )
