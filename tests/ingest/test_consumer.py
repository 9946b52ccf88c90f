"""The consumer's database side: batches, dedupe, dead letters, signals, leases."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from revflow.clock import utcnow
from revflow.config import load_settings
from revflow.db.models import ChannelLease, DeadLetter, ReceivedEvent, Signal
from revflow.ingest.consumer import EventConsumer
from revflow.ingest.leases import ChannelLeases, LeaseLost
from revflow.ingest.repository import get_checkpoint
from revflow.salesforce.auth import TokenProvider
from revflow.sandbox.tcp_proxy import TcpProxy
from tests.orgkit import Shop, settings_for

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


async def test_a_stream_that_cannot_open_is_retried_with_backoff_and_loses_nothing(org, db, caplog):
    """The consumer reads the sandbox org's Streaming API through a proxy whose line is
    cut: opening the stream fails and is retried with the reconnect backoff while it
    keeps the leases; the line comes back and the events of the outage are consumed."""
    proxy = TcpProxy("127.0.0.1", int(org.instance_url.rsplit(":", 1)[1]))
    await proxy.start()
    org.instance_url = f"http://localhost:{proxy.port}"  # tokens name the proxy
    ingest = {"lease_s": 5, "initial_replay": "earliest"}
    settings = settings_for(org, "sqlite+aiosqlite://", ingest=ingest)
    tokens = TokenProvider(
        settings.salesforce.model_copy(update={"instance_url": org.instance_url})
    )
    await tokens.token()  # authenticated before the line is cut
    await proxy.cut()
    c = EventConsumer(db, tokens, settings, owner="a")
    during = Shop(org).order()
    stop = asyncio.Event()
    task = asyncio.create_task(c.run(stop))

    def failures() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.getMessage() == "event stream failed; reconnecting"]

    try:
        await _until(lambda: _true(len(failures()) >= 3))
        delays = [r.retry_in_s for r in failures()]  # type: ignore[attr-defined]
        assert delays[:3] == [0.5, 1.0, 2.0]  # RECONNECT_BACKOFF
        assert set((await c.leases.holders()).values()) == {"a"}
        await proxy.restore()
        await _until(lambda: _received(db, during))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await proxy.close()
    assert await EventConsumer(db, tokens, settings, owner="b").leases.acquire()  # released


async def _received(db, order_id: str) -> bool:
    async with db.read() as s:
        rows = (await s.scalars(select(ReceivedEvent))).all()
    return any(order_id in (r.record_ids or []) for r in rows)


async def _true(value: bool) -> bool:
    return value


async def _until(predicate, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)
