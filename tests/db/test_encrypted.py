"""Payload columns are encrypted by a setting, secrets always; reads work either way."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, Text, column, select, table
from sqlalchemy.exc import StatementError

from revflow.db import encrypted
from revflow.db.database import Database
from revflow.db.models import Base, OrderSnapshot, StoredSecret
from revflow.security.keyring import Keyring, KeyringError, generate_key

RECORD = {"Id": "801000000000001", "Account": {"Name": "Acme Rocket Sleds"}, "TotalAmount": 99.5}


async def raw_record(db: Database, snapshot_id: int) -> object:
    raw = table("order_snapshots", column("id"), column("record", JSON()))
    async with db.read() as s:
        return await s.scalar(select(raw.c.record).where(raw.c.id == snapshot_id))


async def add_snapshot(db: Database) -> int:
    async with db.write() as s:
        snap = OrderSnapshot(order_id="801000000000001", record=RECORD)
        s.add(snap)
        await s.flush()
        return snap.id


async def read_record(db: Database, snapshot_id: int) -> object:
    async with db.read() as s:
        return await s.scalar(select(OrderSnapshot.record).where(OrderSnapshot.id == snapshot_id))


async def test_payloads_encrypted_when_on(db: Database) -> None:
    ring = Keyring([generate_key()])
    encrypted.configure(ring, encrypt_payloads=True)
    sid = await add_snapshot(db)
    stored = await raw_record(db, sid)
    assert isinstance(stored, dict) and list(stored) == ["$enc"]
    assert "Acme" not in str(stored)
    assert stored["$enc"].split(".")[1] == ring.primary_id
    assert await read_record(db, sid) == RECORD


async def test_switching_the_setting_keeps_old_rows_readable(db: Database) -> None:
    ring = Keyring([generate_key()])
    plain_id = await add_snapshot(db)  # written before encryption was turned on
    assert await raw_record(db, plain_id) == RECORD
    encrypted.configure(ring, encrypt_payloads=True)
    enc_id = await add_snapshot(db)
    encrypted.configure(ring, encrypt_payloads=False)
    assert await read_record(db, plain_id) == RECORD
    assert await read_record(db, enc_id) == RECORD
    encrypted.configure(None)
    with pytest.raises(KeyringError, match="REVFLOW_KEYRING__KEYS"):
        await read_record(db, enc_id)


async def test_secrets_always_encrypted_and_need_a_keyring(db: Database) -> None:
    # SQLAlchemy wraps what a column type raises while binding
    with pytest.raises(StatementError, match="KeyringError.*needs the keyring"):
        async with db.write() as s:
            s.add(StoredSecret(name="connector:qbo:refresh_token", value="rt-secret-1"))
    encrypted.configure(Keyring([generate_key()]))  # payload encryption off
    async with db.write() as s:
        s.add(StoredSecret(name="connector:qbo:refresh_token", value="rt-secret-1"))
    raw = table("stored_secrets", column("name"), column("value", Text()))
    async with db.read() as s:
        stored = await s.scalar(select(raw.c.value))
        assert stored is not None and stored.startswith("rf1.") and "rt-secret" not in stored
        assert (await s.get(StoredSecret, "connector:qbo:refresh_token")).value == "rt-secret-1"  # type: ignore[union-attr]


def test_every_payload_column_is_covered() -> None:
    names = {f"{c.table.name}.{c.name}" for c in encrypted.encrypted_columns(Base.metadata)}
    assert names >= {
        "order_snapshots.record",
        "steps.input",
        "steps.output",
        "connector_attempts.error",
        "writeback_outbox.fields",
        "signals.payload",
        "dead_letters.payload",
        "stored_secrets.value",
    }
