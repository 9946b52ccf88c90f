"""PostgreSQL's one-statement form of a batch of completed outcomes: the release of
the leases and the connector call log together (``call_log.release_and_record``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import column, select, table

from revflow.clock import utcnow
from revflow.db import encrypted
from revflow.db.models import ConnectorAttempt, ConnectorCall, Step, StepState
from revflow.orchestration import call_log
from revflow.orchestration.executor import Outcome, StepResult
from revflow.security.keyring import Keyring, generate_key
from tests.plankit import insert_plan, make_worker

CALLOUT: list[dict[str, Any]] = [{"key": "so", "kind": "callout", "action": "ok"}]


def _completed(output: dict[str, Any]) -> dict[str, object]:
    return {"state": StepState.COMPLETED, "output": output, "error": None, "finished_at": utcnow()}


def test_only_completed_outcomes_on_postgresql_fit():
    done = [(1, _completed({}))]
    assert call_log.fits_one_statement(done, [], True)
    assert not call_log.fits_one_statement(done, [], False)  # SQLite: release and call log apart
    retry = [(1, {"state": StepState.RETRYING, "due_at": utcnow(), "error": "503"})]
    assert not call_log.fits_one_statement(done + retry, [], True)


async def test_completed_outcomes_are_released_and_logged_only_where_the_lease_is_held(db):
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite writes the release and the call log apart")
    for i in range(2):
        await insert_plan(db, CALLOUT, order_id=f"801000000000{i:03d}AAA")
    w = make_worker(db, owner="me")
    mine, theirs = await w.claim(2)
    now = utcnow()
    changes = [(mine.id, _completed({"external_id": "X1"})), (theirs.id, _completed({}))]
    result = StepResult(Outcome.COMPLETED, external_id="X1", status_code=201, started=1.0)
    calls = [(mine, result, Outcome.COMPLETED)]
    assert call_log.fits_one_statement(changes, calls, True)
    async with db.write() as s:
        # another owner took ``theirs`` over: its outcome must change nothing
        row = await s.get(Step, theirs.id)
        assert row is not None
        row.lease_owner = "other"
    async with db.write() as s:
        await call_log.release_and_record(s, "me", changes, calls, now)
    async with db.read() as s:
        steps = {st.id: st for st in (await s.scalars(select(Step))).all()}
        call = (await s.scalars(select(ConnectorCall))).one()
        attempt = (await s.scalars(select(ConnectorAttempt))).one()
    done, other = steps[mine.id], steps[theirs.id]
    assert (done.state, done.output, done.error) == (
        StepState.COMPLETED,
        {"external_id": "X1"},
        None,
    )
    assert done.lease_owner is None and done.lease_expires_at is None
    assert done.finished_at == changes[0][1]["finished_at"]
    assert (other.state, other.lease_owner, other.output) == (StepState.RUNNING, "other", None)
    assert (call.idempotency_key, call.status, call.external_id, call.step_id) == (
        mine.idempotency_key,
        "succeeded",
        "X1",
        mine.id,
    )
    assert (attempt.call_id, attempt.attempt, attempt.outcome, attempt.status_code) == (
        call.id,
        1,
        "completed",
        201,
    )


async def test_a_completed_steps_output_is_stored_encrypted_when_payloads_are(db):
    """Both forms (PostgreSQL's one statement, SQLite's release) encrypt the output."""
    encrypted.configure(Keyring([generate_key()]), encrypt_payloads=True)
    await insert_plan(db, CALLOUT)
    w = make_worker(db)
    (step,) = await w.claim(1)
    assert await w.complete(step, await w.executor.run(step)) is True
    raw = table("steps", column("output"))
    async with db.read() as s:
        stored = await s.scalar(select(raw.c.output))
        done = await s.get(Step, step.id)
    assert done is not None and done.state == StepState.COMPLETED
    assert "$enc" in str(stored) and "external_id" not in str(stored)
    assert done.output is not None and done.output["external_id"] == "X"
