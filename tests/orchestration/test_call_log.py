"""The connector call log as the worker's commit records it: one call per idempotency
key (its status and external id kept current), one attempt row per attempt, errors
encrypted like every payload column."""

from __future__ import annotations

from typing import Any

from sqlalchemy import column, select, table, update

from revflow.clock import utcnow
from revflow.connectors.base import CallResult
from revflow.connectors.errors import RetryableError
from revflow.db import encrypted
from revflow.db.models import ConnectorAttempt, ConnectorCall, Step
from revflow.security.keyring import Keyring, generate_key
from tests.plankit import insert_plan, make_worker

FLAKY: list[dict[str, Any]] = [{"key": "so", "kind": "callout", "action": "flaky"}]


def erp_failing_first(failures: int) -> Any:
    seen: list[int] = []

    def erp(action: str, payload: Any, ctx: Any) -> CallResult:
        seen.append(ctx.attempt)
        if len(seen) <= failures:
            raise RetryableError("503 from ERP for customer 42", status_code=503)
        return CallResult(external_id=f"EXT-{ctx.attempt}")

    return erp


async def log(db: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with db.read() as s:
        calls = (
            await s.execute(
                select(ConnectorCall.idempotency_key, ConnectorCall.status)
                .add_columns(ConnectorCall.external_id)
                .order_by(ConnectorCall.id)
            )
        ).all()
        attempts = (
            await s.execute(
                select(ConnectorAttempt.call_id, ConnectorAttempt.attempt)
                .add_columns(ConnectorAttempt.outcome, ConnectorAttempt.status_code)
                .add_columns(ConnectorAttempt.error)
                .order_by(ConnectorAttempt.id)
            )
        ).all()
    return [tuple(c) for c in calls], [tuple(a) for a in attempts]


async def test_a_retried_call_is_one_call_with_an_attempt_per_try(db):
    await insert_plan(db, FLAKY)
    w = make_worker(db, erp_failing_first(1))
    [step] = await w.claim(10)
    assert await w.complete(step, await w.executor.run(step)) is True
    async with db.write() as s:  # due again now instead of after the backoff
        await s.execute(update(Step).where(Step.id == step.id).values(due_at=utcnow()))
    [again] = await w.claim(10)
    assert await w.complete(again, await w.executor.run(again)) is True
    calls, attempts = await log(db)
    assert calls == [(step.idempotency_key, "succeeded", "EXT-2")]
    call_id = attempts[0][0]
    assert attempts == [
        (call_id, 1, "retry", 503, "503 from ERP for customer 42"),
        (call_id, 2, "completed", None, None),
    ]


async def test_several_calls_in_one_batch_keep_the_batch_order(db):
    for i in range(3):
        await insert_plan(db, FLAKY, order_id=f"80100000000000{i}AAA")
    w = make_worker(db, erp_failing_first(0))
    claimed = await w.claim(10)
    done = [(c, await w.executor.run(c)) for c in claimed]
    assert await w.complete_many(done) == [True, True, True]
    calls, attempts = await log(db)
    assert [c[0] for c in calls] == [c.idempotency_key for c in claimed]
    assert [a[1:4] for a in attempts] == [(1, "completed", None)] * 3


async def test_an_attempts_error_is_stored_encrypted_when_payloads_are(db):
    encrypted.configure(Keyring([generate_key()]), encrypt_payloads=True)
    await insert_plan(db, FLAKY)
    w = make_worker(db, erp_failing_first(1))
    [step] = await w.claim(10)
    assert await w.complete(step, await w.executor.run(step)) is True
    raw = table("connector_attempts", column("error"))
    async with db.read() as s:
        stored = await s.scalar(select(raw.c.error))
    assert stored and "customer 42" not in stored
    _calls, attempts = await log(db)
    assert attempts[0][4] == "503 from ERP for customer 42"
