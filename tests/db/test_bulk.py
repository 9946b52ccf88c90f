"""Bulk inserts: ids come back in the rows' order, and follow it; queued rows at commit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from revflow.db.bulk import insert_ids, insert_rows, queue
from revflow.db.models import OrderSnapshot


async def test_ids_come_back_in_the_rows_order(db) -> None:
    names = [f"8015e00000Q7mN{c}AAJ" for c in "zayb"]  # not sorted: order is the rows'
    async with db.write() as s:
        ids = await insert_ids(s, OrderSnapshot, [{"order_id": n, "record": {}} for n in names])
        assert await insert_ids(s, OrderSnapshot, []) == []
        await insert_rows(s, OrderSnapshot, [{"order_id": "x", "record": {"k": 1}}])
        await insert_rows(s, OrderSnapshot, [])
    async with db.read() as s:
        rows = (await s.execute(select(OrderSnapshot.id, OrderSnapshot.order_id))).all()
    stored = dict(rows)
    assert [stored[i] for i in ids] == names
    assert ids == sorted(ids)
    assert len(rows) == 5


async def _order_ids(db) -> list[str]:
    async with db.read() as s:
        q = select(OrderSnapshot.order_id).order_by(OrderSnapshot.id)
        return list((await s.scalars(q)).all())


async def test_queued_rows_are_inserted_at_commit_in_queue_order(db) -> None:
    async with db.write() as s:
        queue(s.sync_session, OrderSnapshot, [{"order_id": "b", "record": {}}])
        queue(s.sync_session, OrderSnapshot, [{"order_id": "a", "record": {"k": 1}}])
        assert not s.new  # rows, not ORM objects: nothing to flush
        assert await s.scalar(select(func.count()).select_from(OrderSnapshot)) == 0
    assert await _order_ids(db) == ["b", "a"]


async def test_queued_rows_go_with_a_rolled_back_transaction(db) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as s:
            queue(s.sync_session, OrderSnapshot, [{"order_id": "lost", "record": {}}])
            raise RuntimeError("rolled back")
    async with db.write() as s:
        queue(s.sync_session, OrderSnapshot, [{"order_id": "kept", "record": {}}])
    assert await _order_ids(db) == ["kept"]


async def test_rows_queued_in_a_rolled_back_savepoint_are_dropped(db) -> None:
    if db.is_sqlite:
        pytest.skip("pysqlite's SAVEPOINT commits the caller's transaction on release")
    async with db.write() as s:
        queue(s.sync_session, OrderSnapshot, [{"order_id": "before", "record": {}}])
        async with s.begin_nested() as sp:
            queue(s.sync_session, OrderSnapshot, [{"order_id": "in-savepoint", "record": {}}])
            await sp.rollback()
        async with s.begin_nested():
            queue(s.sync_session, OrderSnapshot, [{"order_id": "released", "record": {}}])
        queue(s.sync_session, OrderSnapshot, [{"order_id": "after", "record": {}}])
    assert await _order_ids(db) == ["before", "released", "after"]
