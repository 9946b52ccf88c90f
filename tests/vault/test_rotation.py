"""Key rotation re-wraps every stored value in place while writers keep writing."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from revflow.db import encrypted
from revflow.db.database import Database
from revflow.db.models import OrderSnapshot, StoredSecret
from revflow.security.keyring import Keyring, generate_key
from revflow.vault import store
from revflow.vault.rotation import ColumnKeys, columns, key_status, rotate_page


async def status(db: Database) -> dict[str, ColumnKeys]:
    async with db.read() as s:
        return {t.name: t for t in [await key_status(s, c) for c in columns()]}


async def rotate_all(db: Database, ring: Keyring, batch: int = 3) -> dict[str, int]:
    rotated = {}
    for col in columns():
        tally, after = ColumnKeys(col.name), None
        while True:
            async with db.write() as s:
                after = await rotate_page(s, ring, col, after, batch, tally)
            if after is None:
                break
        rotated[f"{col.table.name}.{col.name}"] = tally.rotated
    return rotated


async def snapshot(db: Database, n: int) -> None:
    async with db.write() as s:
        s.add(OrderSnapshot(order_id=f"8010000000000{n:02d}", record={"n": n, "name": "Acme"}))


async def test_rotate_while_writing(db: Database) -> None:
    old, new = generate_key(), generate_key()
    encrypted.configure(Keyring([old]), encrypt_payloads=True)
    for n in range(10):
        await snapshot(db, n)
    async with db.write() as s:
        await store.put(s, "connector:qbo:refresh_token", "rt-old-key")
    before = await status(db)
    old_id = Keyring([old]).primary_id
    assert before["order_snapshots.record"].by_key == {old_id: 10}
    assert before["stored_secrets.value"].by_key == {old_id: 1}

    # every process now runs with [new, old]: new writes use the new key
    ring = Keyring([new, old])
    encrypted.configure(ring, encrypt_payloads=True)
    stop = asyncio.Event()

    async def writer() -> int:
        n = 10
        while not stop.is_set():
            await snapshot(db, n)
            n += 1
            await asyncio.sleep(0)
        return n - 10

    task = asyncio.create_task(writer())
    rotated = await rotate_all(db, ring)
    stop.set()
    written = await task
    assert written > 0  # the writer really wrote during the rotation
    assert rotated["order_snapshots.record"] == 10
    assert rotated["stored_secrets.value"] == 1

    after = await status(db)
    assert after["order_snapshots.record"].by_key == {ring.primary_id: 10 + written}
    assert after["stored_secrets.value"].by_key == {ring.primary_id: 1}
    assert all(set(t.by_key) <= {ring.primary_id} for t in after.values())

    # the old key can go: everything reads with the new key alone
    encrypted.configure(Keyring([new]), encrypt_payloads=True)
    async with db.read() as s:
        records = (await s.scalars(select(OrderSnapshot.record))).all()
        assert sorted(r["n"] for r in records) == list(range(10 + written))
        assert await store.get(s, "connector:qbo:refresh_token") == "rt-old-key"
        assert (await s.get(StoredSecret, "connector:qbo:refresh_token")) is not None

    # a second run finds nothing to do
    assert set((await rotate_all(db, Keyring([new]))).values()) == {0}


async def test_plain_rows_are_counted_not_touched(db: Database) -> None:
    await snapshot(db, 1)  # written with payload encryption off
    ring = Keyring([generate_key()])
    encrypted.configure(ring, encrypt_payloads=True)
    assert (await rotate_all(db, ring))["order_snapshots.record"] == 0
    assert (await status(db))["order_snapshots.record"].plain == 1
