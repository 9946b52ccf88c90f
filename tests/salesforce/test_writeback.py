"""The flusher's handling of per-record outcomes, with a scripted Salesforce client."""

from __future__ import annotations

from sqlalchemy import select

from revflow.db.models import AuditEntry, WritebackItem
from revflow.salesforce import outbox
from revflow.salesforce.client import ApiUsage, RecordError, RecordResult
from revflow.salesforce.errors import RequestLimitExceeded
from revflow.salesforce.writeback import WritebackFlusher

A, B, C = "801000000000001AAA", "801000000000002AAA", "801000000000003AAA"


class ScriptedClient:
    """Answers each record by a per-record status code; None means success."""

    def __init__(self, codes=None, raise_limit=False):
        self.codes = codes or {}
        self.raise_limit = raise_limit
        self.calls: list[list[dict]] = []
        self.usage = ApiUsage()

    async def update_records(self, records):
        self.calls.append(records)
        if self.raise_limit:
            raise RequestLimitExceeded(
                403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
            )
        out = []
        for r in records:
            code = self.codes.get(r["id"])
            out.append(
                RecordResult(
                    r["id"], code is None, [RecordError(code, f"{code} message")] if code else []
                )
            )
        return out


async def enqueue(db, *items):
    async with db.write() as s:
        for rid, fields in items:
            outbox.enqueue(s, "Order", rid, fields)


async def states(db, operation="update"):
    async with db.read() as s:
        q = select(WritebackItem).where(WritebackItem.operation == operation)
        return {(w.record_id, w.id): w.state for w in (await s.scalars(q))}


async def test_one_call_per_200_records_after_coalescing(db):
    ids = [f"801{i:012d}AAA" for i in range(250)]
    await enqueue(
        db, *[(i, {"S": "In Progress"}) for i in ids], *[(i, {"S": "Completed"}) for i in ids]
    )
    client = ScriptedClient()
    flusher = WritebackFlusher(db, client)  # type: ignore[arg-type]
    assert await flusher.flush_once() == 250
    assert [len(c) for c in client.calls] == [200, 50]
    assert all(r["S"] == "Completed" for call in client.calls for r in call)
    assert set((await states(db)).values()) == {"sent"}


async def test_with_a_max_delay_a_part_full_last_call_waits_until_it_is_due(db):
    from datetime import timedelta

    from sqlalchemy import update

    from revflow.clock import utcnow

    ids = [f"801{i:012d}AAA" for i in range(250)]
    await enqueue(db, *[(i, {"S": "In Progress"}) for i in ids])
    client = ScriptedClient()
    flusher = WritebackFlusher(db, client, max_delay_s=60)  # type: ignore[arg-type]
    assert await flusher.flush_once() == 200  # one full call; 50 records wait for more
    assert [len(c) for c in client.calls] == [200]
    assert await flusher.flush_once() == 0  # 50 is not worth a call yet
    async with db.write() as s:  # the 50 have waited the maximum delay
        await s.execute(update(WritebackItem).values(created_at=utcnow() - timedelta(minutes=2)))
    assert await flusher.flush_once() == 50
    assert [len(c) for c in client.calls] == [200, 50]
    assert set((await states(db)).values()) == {"sent"}


async def test_per_record_outcomes(db):
    await enqueue(db, (A, {"S": "x"}), (B, {"S": "y"}), (C, {"S": "z"}))
    client = ScriptedClient(
        {A: "UNABLE_TO_LOCK_ROW", B: "ENTITY_IS_DELETED", C: "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    )
    await WritebackFlusher(db, client).flush_once()  # type: ignore[arg-type]
    by_record = {rid: st for (rid, _), st in (await states(db)).items()}
    assert by_record == {A: "pending", B: "dropped", C: "failed"}
    async with db.read() as s:
        locked = (await s.scalars(select(WritebackItem).where(WritebackItem.record_id == A))).one()
        audits = (await s.scalars(select(AuditEntry.action))).all()
    assert locked.attempts == 1 and "UNABLE_TO_LOCK_ROW" in (locked.error or "")
    assert sorted(audits) == [
        "writeback.dropped",
        "writeback.failed",
        "writeback.refusal_notice_queued",  # only the refused one: C
    ]
    assert list(await states(db, "notice")) == [(C, 4)]


async def test_request_limit_pauses_and_loses_nothing(db):
    await enqueue(db, (A, {"S": "x"}))
    client = ScriptedClient(raise_limit=True)
    flusher = WritebackFlusher(db, client, pause_s=60)  # type: ignore[arg-type]
    assert await flusher.flush_once() == 0
    assert flusher.paused_until is not None
    assert await flusher.flush_once() == 0 and len(client.calls) == 1  # paused: no call
    assert set((await states(db)).values()) == {"pending"}


class RefusingClient(ScriptedClient):
    """Refuses the whole call, as Salesforce does for a request it cannot parse."""

    def __init__(self, exc):
        super().__init__()
        self.exc = exc

    async def update_records(self, records):
        self.calls.append(records)
        raise self.exc


async def test_a_refused_call_fails_its_records_but_a_transient_one_retries(db):
    from revflow.salesforce.errors import SalesforceError, TransientError

    await enqueue(db, (A, {"S": "x"}))
    refused = RefusingClient(
        SalesforceError(400, "INVALID_TYPE", "sObject type 'X' is not supported")
    )
    await WritebackFlusher(db, refused).flush_once()  # type: ignore[arg-type]
    assert set((await states(db)).values()) == {"failed"}
    async with db.read() as s:
        q = select(AuditEntry).where(AuditEntry.action == "writeback.failed")
        (entry,) = (await s.scalars(q)).all()
    assert entry.detail["classification"] == "configuration"

    await enqueue(db, (B, {"S": "y"}))
    busy = RefusingClient(TransientError(503, "SERVER_UNAVAILABLE", "busy"))
    await WritebackFlusher(db, busy).flush_once()  # type: ignore[arg-type]
    assert {rid: st for (rid, _), st in (await states(db)).items()}[B] == "pending"
