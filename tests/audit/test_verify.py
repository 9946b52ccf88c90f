"""`verify` finds an edited, deleted, unsealed or rewritten entry, and a cut-off tail."""

from __future__ import annotations

from sqlalchemy import JSON, DateTime, column, delete, select, table, update

from revflow import audit
from revflow.audit.chain import entry_hash
from revflow.audit.verify import parse_anchor, verify
from revflow.clock import utcnow
from revflow.db.database import Database
from revflow.db.models import AuditChainHead, AuditEntry


async def five(db: Database) -> None:
    for i in range(5):
        async with db.write() as s:
            audit.record(s, "user:ann", "plan.cancelled", plan_id=i, reason=f"r{i}")


async def problems(db: Database, anchors: dict[int, str] | None = None) -> list[str]:
    async with db.read() as s:
        return (await verify(s, anchors)).problems


async def test_intact_chain(db: Database) -> None:
    await five(db)
    async with db.read() as s:
        verdict = await verify(s)
    assert verdict.ok and verdict.entries == 5 and verdict.head_seq == 5


async def test_edited_entry(db: Database) -> None:
    await five(db)
    async with db.write() as s:
        await s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="user:eve"))
    assert await problems(db) == ["entry seq 3 (id 3) was altered"]


async def test_edited_detail(db: Database) -> None:
    await five(db)
    raw = table("audit_log", column("seq"), column("detail", JSON()))
    async with db.write() as s:
        await s.execute(update(raw).where(raw.c.seq == 2).values(detail={"reason": "other"}))
    assert await problems(db) == ["entry seq 2 (id 2) was altered"]


async def test_deleted_entries(db: Database) -> None:
    await five(db)
    async with db.write() as s:
        await s.execute(delete(AuditEntry).where(AuditEntry.seq.in_([2, 3])))
    assert await problems(db) == ["entries seq 2..3 are missing (deleted)"]


async def test_deleted_tail(db: Database) -> None:
    await five(db)
    async with db.write() as s:
        await s.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    assert await problems(db) == ["the newest entries (seq 5) are missing (deleted)"]


async def test_head_rewound_with_the_tail(db: Database) -> None:
    await five(db)
    async with db.write() as s:
        await s.execute(delete(AuditEntry).where(AuditEntry.seq >= 4))
        await s.execute(update(AuditChainHead).values(seq=3))
    assert await problems(db) == ["the chain head does not match the newest entry (seq 3)"]


async def test_entry_written_around_the_log(db: Database) -> None:
    await five(db)
    raw = table(
        "audit_log",
        column("at", DateTime(timezone=True)),
        column("actor"),
        column("action"),
        column("detail", JSON()),
    )
    async with db.write() as s:
        await s.execute(raw.insert().values(at=utcnow(), actor="x", action="forged", detail={}))
    assert await problems(db) == ["entry id 6 has no chain link (written around the log)"]


async def test_rewritten_chain_is_caught_by_an_anchor(db: Database) -> None:
    await five(db)
    async with db.read() as s:
        noted = {e.seq: e.hash for e in (await s.scalars(select(AuditEntry))).all()}
    # an attacker who edits entry 2 and recomputes every hash after it and the head
    async with db.write() as s:
        rows = list((await s.scalars(select(AuditEntry).order_by(AuditEntry.seq))).all())
        rows[1].actor = "user:eve"
        prev = rows[0].hash
        for e in rows[1:]:
            e.prev_hash, e.hash = prev, entry_hash(prev or "", e.seq or 0, e)
            prev = e.hash
        await s.execute(update(AuditChainHead).values(hash=prev))
    assert await problems(db) == []  # the chain alone cannot tell
    anchor = parse_anchor(f"4:{noted[4]}")
    assert await problems(db, dict([anchor])) == ["entry seq 4 does not match its anchor"]
    assert await problems(db, {9: str(noted[4])}) == [
        "entry seq 9 of an anchor is missing (deleted)"
    ]
