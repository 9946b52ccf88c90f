"""Audit entries are chained by hash when their transaction commits, writers in any order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import JSON, DateTime, column, select, table

from revflow import audit
from revflow.audit.chain import GENESIS, entry_hash
from revflow.audit.verify import verify
from revflow.db.database import Database
from revflow.db.migrate import alembic_config, upgrade
from revflow.db.models import AuditChainHead, AuditEntry


async def entries(db: Database) -> list[AuditEntry]:
    async with db.read() as s:
        return list((await s.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())


async def test_each_entry_links_to_the_one_before(db: Database) -> None:
    async with db.write() as s:
        audit.record(s, "user:ann", "plan.cancelled", plan_id=7, order_id="801x", reason="dup")
        audit.record(s, "user:ann", "step.retried", plan_id=7, detail_list=[1, 2])
    async with db.write() as s:
        audit.record(s, "system", "plan.completed", plan_id=7)
    rows = await entries(db)
    assert [e.seq for e in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS
    assert [e.prev_hash for e in rows[1:]] == [e.hash for e in rows[:-1]]
    for e in rows:
        assert e.hash == entry_hash(e.prev_hash or "", e.seq or 0, e)
    async with db.read() as s:
        head = await s.get(AuditChainHead, 1)
        assert head is not None and (head.seq, head.hash) == (3, rows[-1].hash)
        assert (await verify(s)).ok


async def test_entries_flushed_early_and_at_commit_chain_in_the_order_recorded(
    db: Database,
) -> None:
    # at commit, entries not yet flushed are inserted already sealed, after the ones
    # an earlier flush wrote (those are sealed by an update)
    async with db.write() as s:
        audit.record(s, "a", "first")
        await s.flush()
        audit.record(s, "a", "second")
        audit.record(s, "a", "third")
    async with db.write() as s:
        audit.record(s, "a", "fourth")
    rows = await entries(db)
    assert [(e.seq, e.action) for e in rows] == [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
    ]
    assert [e.id for e in rows] == sorted(e.id for e in rows)
    async with db.read() as s:
        assert (await verify(s)).ok


async def test_rolled_back_entries_leave_no_link(db: Database) -> None:
    async with db.write() as s:
        audit.record(s, "a", "one")
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            audit.record(s, "a", "lost")
            await s.flush()
            raise RuntimeError("boom")
    async with db.write() as s:
        audit.record(s, "a", "kept-before-savepoint")
        async with s.begin_nested() as sp:
            audit.record(s, "a", "savepoint-lost")
            await s.flush()
            await sp.rollback()
        audit.record(s, "a", "kept-after-savepoint")
    rows = await entries(db)
    assert [(e.seq, e.action) for e in rows] == [
        (1, "one"),
        (2, "kept-before-savepoint"),
        (3, "kept-after-savepoint"),
    ]
    async with db.read() as s:
        assert (await verify(s)).ok


async def test_concurrent_writers_chain_in_commit_order(database_url: str) -> None:
    # two Database objects: two engines, as two processes would have
    dbs = [Database(database_url), Database(database_url)]

    async def writer(n: int) -> None:
        for i in range(5):
            async with dbs[n % 2].write() as s:
                audit.record(s, f"w{n}", "write", n=n, i=i)
                audit.record(s, f"w{n}", "write-2", n=n, i=i)

    try:
        await asyncio.gather(*(writer(n) for n in range(12)))
        rows = await entries(dbs[0])
        assert [e.seq for e in rows] == list(range(1, 121))
        async with dbs[0].read() as s:
            verdict = await verify(s)
        assert verdict.ok, verdict.problems
        assert verdict.entries == 120 and verdict.head_seq == 120
    finally:
        for d in dbs:
            await d.dispose()


async def test_entries_written_before_the_chain_are_chained_by_the_migration(
    database_url: str,
) -> None:
    # back to 0007 (the chain columns go), write entries as the old code did, upgrade
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0007")
    db = Database(database_url)
    try:
        old_log = table(
            "audit_log",
            column("at", DateTime(timezone=True)),
            column("actor"),
            column("action"),
            column("detail", JSON()),
        )
        async with db.write() as s:
            for i in range(3):
                at = datetime(2026, 11, i + 1, 10, 0, 0, 1, tzinfo=UTC)
                await s.execute(
                    old_log.insert().values(at=at, actor="old", action="legacy", detail={"i": i})
                )
        await db.dispose()
        await asyncio.to_thread(upgrade, database_url)
        db = Database(database_url)
        async with db.write() as s:
            audit.record(s, "new", "after-upgrade")
        rows = await entries(db)
        assert [(e.seq, e.action) for e in rows] == [
            (1, "legacy"),
            (2, "legacy"),
            (3, "legacy"),
            (4, "after-upgrade"),
        ]
        async with db.read() as s:
            assert (await verify(s)).ok
    finally:
        await db.dispose()


async def test_entries_of_a_released_savepoint_are_sealed_once_at_commit(db: Database) -> None:
    # releasing a savepoint fires before_commit too; the entry was numbered there and
    # again at the commit, which left seq 1 missing on PostgreSQL
    async with db.write() as s:
        async with s.begin_nested():
            audit.record(s, "a", "in-savepoint")
        audit.record(s, "a", "after-savepoint")
    rows = await entries(db)
    assert [(e.seq, e.action) for e in rows] == [(1, "in-savepoint"), (2, "after-savepoint")]
    async with db.read() as s:
        verdict = await verify(s)
    assert verdict.ok, verdict.problems
