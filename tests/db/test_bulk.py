"""Bulk inserts: ids come back in the rows' order, and follow it."""

from __future__ import annotations

from sqlalchemy import select

from revflow.db.bulk import insert_ids, insert_rows
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
