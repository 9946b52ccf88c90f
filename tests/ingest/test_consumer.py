"""The consumer's database side: batches, dedupe, dead letters, signals, leases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from revflow.clock import utcnow
from revflow.config import load_settings
from revflow.db.models import ChannelLease, DeadLetter, ReceivedEvent, Signal
from revflow.ingest.consumer import EventConsumer
from revflow.ingest.leases import ChannelLeases, LeaseLost
from revflow.ingest.repository import get_checkpoint

CH = "/data/OrderChangeEvent"
PE = "/event/Fulfillment_Callback__e"


def change(tx: str, replay: int) -> dict:
    return {
        "channel": CH,
        "data": {
            "payload": {
                "ChangeEventHeader": {
                    "entityName": "Order",
                    "recordIds": ["8015e00000Q7mNpAAJ"],
                    "changeType": "UPDATE",
                    "transactionKey": tx,
                    "sequenceNumber": 1,
                    "changedFields": ["Status"],
                },
                "Status": "Activated",
            },
            "event": {"replayId": replay},
        },
    }


def consumer(db, owner: str, channels=(CH, PE)) -> EventConsumer:
    settings = load_settings(ingest={"channels": list(channels), "lease_s": 5})
    return EventConsumer(db, None, settings, owner=owner)  # type: ignore[arg-type]


async def count(db, model) -> int:
    async with db.read() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def test_batch_dedupes_dead_letters_and_stores_signals(db):
    c = consumer(db, "a")
    assert await c.leases.acquire()
    bad = {
        "channel": CH,
        "data": {"payload": {"ChangeEventHeader": "oops"}, "event": {"replayId": 3}},
    }
    signal = {
        "channel": PE,
        "data": {
            "payload": {"Correlation_Key__c": "SO-1", "Status__c": "ok"},
            "event": {"replayId": 4, "EventUuid": "u-1"},
        },
    }
    await c.handle_batch([change("t1", 1), change("t1", 2), bad, signal, dict(signal)])
    assert await count(db, ReceivedEvent) == 2
    assert await count(db, DeadLetter) == 1
    async with db.read() as s:
        sig = (await s.scalars(select(Signal))).one()
        assert sig.correlation_key == "SO-1"
        assert await get_checkpoint(s, CH) == "3"  # the bad event is passed, not retried forever
    assert (c.received, c.duplicates, c.dead_letters) == (2, 2, 1)


async def test_only_one_process_holds_the_channels(db):
    a, b = consumer(db, "a"), consumer(db, "b")
    assert await a.leases.acquire()
    assert not await b.leases.acquire()
    assert set((await a.leases.holders()).values()) == {"a"}
    # a dies: its leases expire and b takes over
    async with db.write() as s:
        await s.execute(update(ChannelLease).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await b.leases.acquire()
    # a comes back and tries to record what it had in flight: fenced off
    with pytest.raises(LeaseLost):
        await a.handle_batch([change("t9", 9)])
    assert await count(db, ReceivedEvent) == 0
    await b.handle_batch([change("t9", 9)])
    assert await count(db, ReceivedEvent) == 1


async def test_partial_acquire_takes_nothing(db):
    first = ChannelLeases(db, "a", [CH], 5)
    assert await first.acquire()
    both = ChannelLeases(db, "b", [PE, CH], 5)
    assert not await both.acquire()
    assert await ChannelLeases(db, "c", [PE], 5).acquire()  # PE was not left taken by b


async def test_standby_consumer_waits_without_consuming(db):
    a, b = consumer(db, "a"), consumer(db, "b")
    assert await a.leases.acquire()
    stop = asyncio.Event()
    task = asyncio.create_task(b.run(stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert (await a.leases.holders()) == {CH: "a", PE: "a"}


async def test_dead_letters_can_be_listed_and_replayed(db):
    from revflow.ingest import dead_letters

    async def list_dead_letters(db):  # type: ignore[no-untyped-def]
        async with db.read() as s:  # the command owns the transaction
            return await dead_letters.list_dead_letters(s)

    async def replay(db):  # type: ignore[no-untyped-def]
        async with db.write() as s:
            return await dead_letters.replay(s)

    c = consumer(db, "a")
    assert await c.leases.acquire()
    broken = change("t5", 5)
    del broken["data"]["payload"]["ChangeEventHeader"]["transactionKey"]
    await c.handle_batch([broken])
    (letter,) = await list_dead_letters(db)
    assert "transactionKey" in letter.reason
    assert [o.ok for o in await replay(db)] == [False]  # still unreadable
    async with db.write() as s:  # an operator repairs the payload
        stored = await s.get(type(letter), letter.id)
        stored.payload = change("t5", 5)
    assert [o.message for o in await replay(db)] == ["recorded in the inbox"]
    assert await count(db, ReceivedEvent) == 1
    assert await list_dead_letters(db) == []
