"""Retention purges payloads of finished work older than the age, keeps the rest, audits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from revflow.audit.verify import verify
from revflow.clock import frozen
from revflow.db import encrypted
from revflow.db.database import Database
from revflow.db.models import (
    AuditEntry,
    ConnectorAttempt,
    ConnectorCall,
    DeadLetter,
    OrderSnapshot,
    Plan,
    PlanState,
    Signal,
    Step,
    WritebackItem,
)
from revflow.retention.purge import count_due, cutoff_for, purge
from revflow.retention.repository import PURGED
from revflow.security.keyring import Keyring, generate_key

LONG_AGO = datetime(2026, 9, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 3, tzinfo=UTC)


async def order(db: Database, order_id: str, state: PlanState, when: datetime) -> int:
    """A plan with one step, its call and a failed attempt, written at ``when``."""
    with frozen(when):
        async with db.write() as s:
            snap = OrderSnapshot(order_id=order_id, record={"Account": {"Name": "Acme"}})
            s.add(snap)
            await s.flush()
            plan = Plan(
                order_id=order_id,
                definition="d",
                correlation_id=f"c-{order_id}",
                snapshot_id=snap.id,
                state=state,
            )
            s.add(plan)
            await s.flush()
            step = Step(
                plan_id=plan.id,
                key="so",
                position=0,
                kind="callout",
                idempotency_key=f"i-{order_id}",
                input={"lines": [1]},
            )
            s.add(step)
            await s.flush()
            call = ConnectorCall(
                step_id=step.id,
                connector="erp",
                action="create",
                idempotency_key=f"i-{order_id}",
                correlation_id="c",
            )
            s.add(call)
            await s.flush()
            s.add(
                ConnectorAttempt(
                    call_id=call.id,
                    attempt=1,
                    outcome="retryable",
                    error="HTTP 500: Acme's order was refused",
                    started_at=when,
                )
            )
            for state_ in ("sent", "pending"):
                s.add(
                    WritebackItem(
                        sobject="Order", record_id=order_id, fields={"Status": "Done"}, state=state_
                    )
                )
            s.add(
                Signal(
                    source="callback",
                    name="shipped",
                    dedupe_key=f"d-{order_id}",
                    payload={"tracking": "1Z"},
                    consumed_by_step_id=step.id,
                )
            )
            s.add(
                Signal(
                    source="callback",
                    name="shipped",
                    dedupe_key=f"w-{order_id}",
                    payload={"tracking": "2Z"},
                )
            )
            s.add(DeadLetter(source="cdc", reason="bad", payload={"x": 1}, replayed_at=when))
            return plan.id


async def counts(db: Database) -> dict[str, object]:
    async with db.read() as s:
        return {
            "records": sorted(
                str(r) for r in (await s.scalars(select(OrderSnapshot.record))).all()
            ),
            "errors": sorted(
                str(e) for e in (await s.scalars(select(ConnectorAttempt.error))).all()
            ),
            "outbox": await s.scalar(select(func.count()).select_from(WritebackItem)),
            "signals": sorted(str(p) for p in (await s.scalars(select(Signal.payload))).all()),
            "attempts": await s.scalar(select(func.count()).select_from(ConnectorAttempt)),
        }


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "encrypted"])
async def test_purge_finished_work_only(db: Database, encrypt: bool) -> None:
    if encrypt:
        encrypted.configure(Keyring([generate_key()]), encrypt_payloads=True)
    await order(db, "801000000000001", PlanState.COMPLETED, LONG_AGO)
    await order(db, "801000000000002", PlanState.IN_PROGRESS, LONG_AGO)  # still open
    await order(db, "801000000000003", PlanState.CANCELLED, NOW - timedelta(days=1))  # young
    with frozen(NOW):
        cutoff = cutoff_for(30)
        due = await count_due(db, cutoff)
        done = await purge(db, cutoff, actor="ops:ann", batch_size=2)
    expected = {
        "order_snapshots": 1,
        "connector_attempts": 1,
        "writeback_outbox": 2,  # the sent items of both old orders
        "signals": 2,  # the consumed signals of both old orders
        "dead_letters": 2,
    }
    assert due == done == expected
    after = await counts(db)
    assert after["records"].count(str(PURGED)) == 1  # type: ignore[attr-defined]
    assert after["errors"] == sorted(["None", *["HTTP 500: Acme's order was refused"] * 2])
    assert after["outbox"] == 4 and after["attempts"] == 3  # rows and counts stay
    assert after["signals"].count(str(PURGED)) == 2  # type: ignore[attr-defined]
    assert after["signals"].count("{'tracking': '2Z'}") == 3  # type: ignore[attr-defined]

    with frozen(NOW):  # nothing left to do: nothing counted twice, no empty audit entry
        assert set((await purge(db, cutoff, actor="system", batch_size=2)).values()) == {0}
    async with db.read() as s:
        entries = (await s.scalars(select(AuditEntry))).all()
        assert [(e.actor, e.action) for e in entries] == [("ops:ann", "retention.purged")]
        assert entries[0].detail["counts"] == expected
        assert (await verify(s)).ok
