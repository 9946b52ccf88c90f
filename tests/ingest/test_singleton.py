"""Intake (and the sweep) held by a lease: two processes' intakes over one inbox, a
holder that loses the lease mid-batch, a standby taking over after expiry."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from revflow.aio import no_beat
from revflow.db.database import Database
from revflow.db.models import ChannelLease, EventStatus, OrderSnapshot
from revflow.ingest import singleton
from revflow.ingest.errors import LeaseLost
from revflow.ingest.leases import ChannelLeases
from revflow.ingest.reconcile import Reconciler
from revflow.ingest.singleton import INTAKE_LEASE, leased
from revflow.orchestration import intake as intake_module
from revflow.orchestration import revalidate as revalidate_module
from revflow.orchestration.intake import Intake
from tests.orgkit import (
    Shop,
    feed,
    inbox,
    make_intake,
    org_events,
    planned,
    settings_for,
    sf_client,
)

Reads = Counter[str]


def count_reads(
    monkeypatch: pytest.MonkeyPatch, before: Callable[[], Awaitable[None]] | None = None
) -> Reads:
    """Count each order id intake reads from Salesforce; ``before`` runs ahead of each read."""
    reads: Reads = Counter()
    real = intake_module.fetch_orders

    async def fetch(client: Any, ids: list[str], fields: Any) -> dict[str, Any]:
        if before is not None:
            await before()
        reads.update(ids)
        return await real(client, ids, fields)

    monkeypatch.setattr(intake_module, "fetch_orders", fetch)
    return reads


class Process:
    """One ``revflow run``'s intake under the intake lease (its own pool and client)."""

    def __init__(self, org: Any, database_url: str, owner: str, lease_s: float) -> None:
        self.settings = settings_for(org, database_url, ingest={"lease_s": lease_s})
        self.db = Database(database_url)
        self.client = sf_client(self.settings)
        self.intake: Intake = make_intake(self.db, self.client, self.settings)
        self.lease = ChannelLeases(self.db, owner, [INTAKE_LEASE], lease_s)
        self.stop = asyncio.Event()
        self.task: asyncio.Future[None] | None = None

    def start(self) -> None:
        run = leased(self.lease, "intake", self.intake.run)
        self.task = asyncio.ensure_future(run(self.stop, no_beat))

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:  # a crashed one ends cancelled
            await asyncio.wait_for(asyncio.gather(self.task, return_exceptions=True), 10)
        await self.client.aclose()
        await self.db.dispose()

    def crash(self) -> None:
        """Die without releasing the lease (it has to lapse)."""
        assert self.task is not None
        self.task.cancel()


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


async def holder(db: Database) -> str | None:
    return (await ChannelLeases(db, "-", [INTAKE_LEASE], 1).holders()).get(INTAKE_LEASE)


async def all_handled(db: Database) -> bool:
    return all(r.status != EventStatus.RECEIVED for r in await inbox(db))


async def test_two_intakes_read_each_order_once_and_plan_it_once(
    org, db, database_url, monkeypatch
):
    shop = Shop(org)
    orders = [shop.order() for _ in range(6)]
    await feed(db, org_events(org))
    reads = count_reads(monkeypatch)
    a, b = (Process(org, database_url, name, lease_s=2.0) for name in ("a", "b"))
    try:
        a.start()
        b.start()
        await until(lambda: all_handled(db))
        more = [shop.order() for _ in range(3)]  # arriving while both run
        await feed(db, org_events(org))
        await until(lambda: all_handled(db))
    finally:
        await a.close()
        await b.close()
    assert sorted(await planned(db)) == sorted(orders + more)
    assert reads == Counter(orders + more)  # every order read once, by one process


async def test_a_holder_that_lost_the_lease_mid_batch_stores_nothing(
    org, db, database_url, monkeypatch, caplog
):
    shop = Shop(org)
    oid = shop.order()
    await feed(db, org_events(org))

    # "a" pauses past expiry while reading and "b" takes over
    reads = count_reads(monkeypatch, before=lambda: taken_over(db))
    a = Process(org, database_url, "a", lease_s=30.0)
    try:
        a.start()
        await until(lambda: _read(reads, oid))
        await until(lambda: _logged(caplog, "lease lost; standing by"))
        assert a.task is not None and not a.task.done()  # standing by, not failed
        assert await planned(db) == []  # the plans' transaction rolled back
        assert {r.status for r in await inbox(db)} == {EventStatus.RECEIVED}
        assert await holder(db) == "b"
    finally:
        await a.close()


async def taken_over(db: Database) -> None:
    async with db.write() as s:
        await s.execute(
            update(ChannelLease).where(ChannelLease.channel == INTAKE_LEASE).values(owner="b")
        )


async def test_a_sweep_that_lost_the_lease_mid_page_stores_no_plan_and_no_cursor(
    org, db, database_url, monkeypatch
):
    Shop(org).order()  # activated, its event lost: only the sweep finds it
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    sweeper = Reconciler(db, client, settings, make_intake(db, client, settings), settle_s=0.0)
    count_reads(monkeypatch, before=lambda: taken_over(db))
    lost: list[BaseException] = []

    async def one_sweep(stop: asyncio.Event, beat: Any) -> None:
        try:
            await sweeper.sweep_once()
        except LeaseLost as exc:
            lost.append(exc)
            raise
        await stop.wait()

    await until_lost(db, "reconcile", one_sweep, lost)
    await client.aclose()
    assert await planned(db) == []
    assert await sweeper.cursor() is None  # advanced in the rolled-back transaction


async def until_lost(
    db: Database, name: str, loop: Callable[..., Awaitable[None]], lost: list[BaseException]
) -> None:
    """Run ``loop`` under the intake lease (owner "a") until it has seen ``LeaseLost``."""
    stop = asyncio.Event()
    run = leased(ChannelLeases(db, "a", [INTAKE_LEASE], 30.0), name, loop)
    task = asyncio.ensure_future(run(stop, no_beat))
    try:
        await until(lambda: _true(bool(lost)))
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _true(value: bool) -> bool:
    return value


async def _read(reads: Reads, oid: str) -> bool:
    return reads[oid] > 0


async def _logged(caplog: pytest.LogCaptureFixture, message: str) -> bool:
    return any(r.getMessage() == message for r in caplog.records)


async def test_a_standby_takes_over_once_the_holders_lease_lapses(
    org, db, database_url, monkeypatch
):
    shop = Shop(org)
    reads = count_reads(monkeypatch)
    a, b = (Process(org, database_url, name, lease_s=1.0) for name in ("a", "b"))
    try:
        a.start()
        await until(lambda: _held_by(db, "a"))
        b.start()
        first = shop.order()
        await feed(db, org_events(org))
        await until(lambda: all_handled(db))
        assert await holder(db) == "a"  # b stood by

        a.crash()
        await asyncio.sleep(0)
        second = shop.order()
        await feed(db, org_events(org))
        await until(lambda: _held_by(db, "b"), timeout_s=5.0)  # the lease (1 s) lapsed
        await until(lambda: all_handled(db))
    finally:
        await a.close()
        await b.close()
    assert await planned(db) == [first, second]
    assert reads == Counter([first, second])


async def _held_by(db: Database, owner: str) -> bool:
    return await holder(db) == owner


async def test_the_fence_applies_inside_the_leased_loop_only(db):
    mine = ChannelLeases(db, "a", [INTAKE_LEASE], 30.0)
    assert await mine.acquire()
    async with db.write() as s:
        await s.execute(update(ChannelLease).values(owner="b"))
    async with db.write() as s:
        await singleton.fence(s)  # outside ``leased``: not fenced

    seen: list[BaseException] = []

    async def loop(stop: asyncio.Event, beat: Any) -> None:
        try:
            async with db.write() as s:
                await singleton.fence(s)
        except Exception as exc:
            seen.append(exc)
        stop.set()

    async with db.write() as s:  # let "a" take it again, then lose it inside the loop
        await s.execute(update(ChannelLease).values(owner="a"))

    async def lose_then_loop(stop: asyncio.Event, beat: Any) -> None:
        async with db.write() as s:
            await s.execute(update(ChannelLease).values(owner="b"))
        await loop(stop, beat)

    await asyncio.wait_for(leased(mine, "intake", lose_then_loop)(asyncio.Event(), no_beat), 5)
    assert [type(e).__name__ for e in seen] == ["LeaseLost"]


async def test_revalidation_under_a_lost_lease_stores_nothing(org, db, database_url, monkeypatch):
    """Re-validating a plan on hold (part of the intake loop) is fenced like its plans."""
    oid = Shop(org).order()
    settings = settings_for(org, database_url)
    client = sf_client(settings)
    intake = make_intake(db, client, settings)

    async def waiting(_s: Any, _ids: Any) -> dict[str, int]:
        return {oid: 1}  # as if its plan waited for better data

    monkeypatch.setattr(revalidate_module, "plans_waiting_for_data", waiting)
    lost: list[BaseException] = []

    async def one_pass(stop: asyncio.Event, beat: Any) -> None:
        await taken_over(db)
        try:
            await revalidate_module.revalidate(
                db, client, settings, intake.definition, intake.mappings, [oid]
            )
        except LeaseLost as exc:
            lost.append(exc)
            raise

    await until_lost(db, "intake", one_pass, lost)
    await client.aclose()
    async with db.read() as s:
        assert await s.scalar(select(func.count()).select_from(OrderSnapshot)) == 0
