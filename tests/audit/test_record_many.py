"""``record_many``: entries kept as rows and inserted sealed at commit, in the chain."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from revflow import audit
from revflow.audit.chain import entry_hash
from revflow.audit.verify import verify
from revflow.db.database import Database
from revflow.db.models import AuditEntry


async def entries(db: Database) -> list[AuditEntry]:
    async with db.read() as s:
        return list((await s.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())


def many(n: int, first: int = 0) -> list[dict[str, object]]:
    return [
        {"plan_id": i, "order_id": f"801{i:015d}", "correlation_id": f"c{i}", "due_at": None}
        for i in range(first, first + n)
    ]


async def test_rows_are_stored_sealed_in_the_order_recorded(db: Database) -> None:
    async with db.write() as s:
        audit.record(s, "a", "flushed")
        await s.flush()
        audit.record(s, "a", "unflushed")
        audit.record_many(s, "revflow", "plan.created", many(3))
        audit.record(s, "a", "after")  # after rows: a row too, chained after them
    rows = await entries(db)
    assert [(e.seq, e.action, e.plan_id) for e in rows] == [
        (1, "flushed", None),
        (2, "unflushed", None),
        (3, "plan.created", 0),
        (4, "plan.created", 1),
        (5, "plan.created", 2),
        (6, "after", None),
    ]
    assert [e.id for e in rows] == sorted(e.id for e in rows)
    created = rows[2]
    assert (created.actor, created.order_id, created.correlation_id) == (
        "revflow",
        "801000000000000000",
        "c0",
    )
    assert created.detail == {"due_at": None}  # the keys that are columns are not detail
    for e in rows:
        assert e.hash == entry_hash(e.prev_hash or "", e.seq or 0, e)
    async with db.read() as s:
        verdict = await verify(s)
    assert verdict.ok, verdict.problems
    assert verdict.head_seq == 6


async def test_the_callers_dicts_are_left_as_they_were(db: Database) -> None:
    given = many(2)
    async with db.write() as s:
        audit.record_many(s, "revflow", "plan.created", given)
    assert given == many(2)


async def test_a_rolled_back_transaction_leaves_no_rows(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            audit.record_many(s, "revflow", "plan.created", many(2))
            raise RuntimeError("boom")
    async with db.write() as s:
        audit.record_many(s, "revflow", "plan.created", many(1, first=7))
    rows = await entries(db)
    assert [(e.seq, e.plan_id) for e in rows] == [(1, 7)]
    async with db.read() as s:
        assert (await verify(s)).ok


async def test_in_a_savepoint_they_roll_back_with_it(db: Database) -> None:
    async with db.write() as s:
        async with s.begin_nested() as sp:
            audit.record_many(s, "revflow", "plan.created", many(2))
            await sp.rollback()
        async with s.begin_nested():
            audit.record_many(s, "revflow", "plan.created", many(1, first=5))
    rows = await entries(db)
    assert [(e.seq, e.plan_id) for e in rows] == [(1, 5)]
    async with db.read() as s:
        assert (await verify(s)).ok


async def test_concurrent_writers_of_rows_chain_without_gaps(database_url: str) -> None:
    dbs = [Database(database_url), Database(database_url)]

    async def writer(n: int) -> None:
        for i in range(4):
            async with dbs[n % 2].write() as s:
                audit.record(s, f"w{n}", "write", i=i)
                audit.record_many(s, f"w{n}", "plan.created", many(3, first=100 * n + 10 * i))

    try:
        await asyncio.gather(*(writer(n) for n in range(6)))
        rows = await entries(dbs[0])
        assert [e.seq for e in rows] == list(range(1, 6 * 4 * 4 + 1))
        async with dbs[0].read() as s:
            verdict = await verify(s)
        assert verdict.ok, verdict.problems
    finally:
        for d in dbs:
            await d.dispose()
