"""The connector call log: one call per idempotency key, one row per attempt.

Queries only, in the caller's transaction (the worker's outcome commit).  On
PostgreSQL a batch of completed outcomes also releases its steps in the log's
statement (``release_and_record``): a round trip less per batch than the release
(``claims.release_steps``) and the log apart.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, or_, text
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.encrypted import PayloadText
from revflow.db.models import ConnectorAttempt, ConnectorCall, StepState
from revflow.orchestration.claims import STEPS
from revflow.orchestration.executor import ClaimedStep, Outcome, StepResult

CALLS = cast(Table, ConnectorCall.__table__)
ATTEMPTS = cast(Table, ConnectorAttempt.__table__)


async def record_attempts(
    s: AsyncSession, items: Sequence[tuple[ClaimedStep, StepResult, Outcome]], now: datetime
) -> None:
    """Upsert the connector calls (one per idempotency key) and insert the attempts."""
    if not items:
        return
    calls = [_call(step, result, outcome, now) for step, result, outcome in items]
    dialect = s.get_bind().dialect
    keys = [row["idempotency_key"] for row in calls]
    if dialect.name == "postgresql" and len(set(keys)) == len(keys):
        await s.execute(_RECORD, _arrays(calls, items, now, dialect))
        return
    stmt = _upsert_calls(dialect.name)
    call_ids: dict[str, int] = {}
    # ON CONFLICT DO UPDATE may touch a row once per statement: a key seen twice
    # in the batch (the same step retried and finished) goes in a later round
    todo = calls
    while todo:
        seen: set[object] = set()
        now_rows: list[dict[str, object]] = []
        later: list[dict[str, object]] = []
        for row in todo:
            (later if row["idempotency_key"] in seen else now_rows).append(row)
            seen.add(row["idempotency_key"])
        for r in (await s.execute(stmt, now_rows)).all():
            call_ids[r.idempotency_key] = r.id
        todo = later
    attempts = [
        {
            "call_id": call_ids[step.idempotency_key],
            "attempt": step.attempt,
            "outcome": outcome.value,
            "status_code": result.status_code,
            "error": result.error,
            "started_at": _started(result, now),
            "finished_at": now,
        }
        for step, result, outcome in items
    ]
    await s.execute(_INSERT_ATTEMPTS, attempts)


_INSERT_ATTEMPTS = insert_into(ATTEMPTS)

# PostgreSQL: the calls' upsert and the attempts' insert in one statement (a round trip
# less in every outcome commit), one array per column; the attempts in the batch's
# order.  Two rows of one key in a batch take the two statements above instead.
RECORD_SQL = """
    WITH calls AS (
        INSERT INTO connector_calls AS c (step_id, connector, action, idempotency_key,
            correlation_id, status, external_id, created_at)
        SELECT * FROM unnest(CAST(:step_id AS integer[]), CAST(:connector AS varchar[]),
            CAST(:action AS varchar[]), CAST(:key AS varchar[]),
            CAST(:correlation_id AS varchar[]), CAST(:status AS varchar[]),
            CAST(:external_id AS varchar[]), CAST(:created_at AS timestamptz[]))
        ON CONFLICT (idempotency_key) DO UPDATE SET status = excluded.status,
            external_id = CASE WHEN excluded.external_id IS NULL OR excluded.external_id = ''
                THEN c.external_id ELSE excluded.external_id END
        RETURNING c.id, c.idempotency_key
    )
    INSERT INTO connector_attempts (call_id, attempt, outcome, status_code, error,
        started_at, finished_at)
    SELECT calls.id, a.attempt, a.outcome, a.status_code, a.error, a.started_at, a.finished_at
    FROM unnest(CAST(:key AS varchar[]), CAST(:attempt AS integer[]),
        CAST(:outcome AS varchar[]), CAST(:status_code AS integer[]), CAST(:error AS text[]),
        CAST(:started_at AS timestamptz[]), CAST(:finished_at AS timestamptz[]))
        WITH ORDINALITY AS a(key, attempt, outcome, status_code, error, started_at,
            finished_at, n)
    JOIN calls ON calls.idempotency_key = a.key
    ORDER BY a.n
    """
_RECORD = text(RECORD_SQL)


def record_params(
    items: Sequence[tuple[ClaimedStep, StepResult, Outcome]], now: datetime, dialect: Any
) -> dict[str, list[Any]]:
    """``RECORD_SQL``'s parameters for ``items`` (each idempotency key once)."""
    return _arrays(
        [_call(step, result, outcome, now) for step, result, outcome in items], items, now, dialect
    )


def _arrays(
    calls: list[dict[str, object]],
    items: Sequence[tuple[ClaimedStep, StepResult, Outcome]],
    now: datetime,
    dialect: Any,
) -> dict[str, list[Any]]:
    """``_RECORD``'s parameters: a list per column.  The error goes through its
    column's type (``PayloadText``: encrypted when payload encryption is on)."""
    error_type = cast(PayloadText, ATTEMPTS.c.error.type)
    params: dict[str, list[Any]] = {
        name: [row[name] for row in calls]
        for name in ("step_id", "connector", "action", "correlation_id", "status")
    }
    params |= {
        "external_id": [row["external_id"] for row in calls],
        "created_at": [now] * len(calls),
        "key": [row["idempotency_key"] for row in calls],
        "attempt": [step.attempt for step, _r, _o in items],
        "outcome": [outcome.value for _s, _r, outcome in items],
        "status_code": [result.status_code for _s, result, _o in items],
        "error": [error_type.process_bind_param(r.error, dialect) for _s, r, _o in items],
        "started_at": [_started(result, now) for _s, result, _o in items],
        "finished_at": [now] * len(items),
    }
    return params


def _call(
    step: ClaimedStep, result: StepResult, outcome: Outcome, now: datetime
) -> dict[str, object]:
    """A connector call's row for an attempt's outcome."""
    status = {Outcome.COMPLETED: "succeeded", Outcome.FATAL: "failed"}.get(outcome, "retrying")
    return {
        "step_id": step.id,
        "connector": step.connector or "",
        "action": step.action or "",
        "idempotency_key": step.idempotency_key,
        "correlation_id": step.correlation_id,
        "status": status,
        "external_id": result.external_id,
        "created_at": now,
    }


def _started(result: StepResult, now: datetime) -> datetime:
    return datetime.fromtimestamp(result.started, now.tzinfo) if result.started else now


@functools.cache
def _upsert_calls(dialect: str) -> Any:
    """The calls' upsert for a dialect, built once: it returns their ids and keys."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(CALLS)
    new_id = insert.excluded.external_id
    return insert.on_conflict_do_update(
        index_elements=["idempotency_key"],
        set_={
            "status": insert.excluded.status,
            # an attempt without an external id keeps the one known
            "external_id": case(
                (or_(new_id.is_(None), new_id == ""), CALLS.c.external_id), else_=new_id
            ),
        },
    ).returning(CALLS.c.id, CALLS.c.idempotency_key)


# the columns a completed outcome sets (``Committer._outcome``), besides the lease's
COMPLETED_COLUMNS = frozenset({"state", "output", "error", "finished_at"})


def fits_one_statement(
    changes: Sequence[tuple[int, dict[str, object]]],
    items: Sequence[tuple[ClaimedStep, StepResult, Outcome]],
    is_postgresql: bool,
) -> bool:
    """Whether ``release_and_record`` can take this batch: PostgreSQL, every outcome
    completed, each call's idempotency key once (``RECORD_SQL``)."""
    if not is_postgresql:
        return False
    if any(
        v.keys() != COMPLETED_COLUMNS or v["state"] != StepState.COMPLETED or v["error"]
        for _id, v in changes
    ):
        return False
    keys = [step.idempotency_key for step, _r, _o in items]
    return len(set(keys)) == len(keys)


async def release_and_record(
    s: AsyncSession,
    owner: str,
    changes: Sequence[tuple[int, dict[str, object]]],
    items: Sequence[tuple[ClaimedStep, StepResult, Outcome]],
    now: datetime,
) -> None:
    """Release ``owner``'s completed steps (``changes``, which ``fits_one_statement``
    accepted) and log the connector calls ``items`` (as ``record_attempts``), in one
    statement.  The release repeats the fence: a lost lease's outcome changes nothing."""
    dialect = s.get_bind().dialect
    output = STEPS.c.output.type.bind_processor(dialect)  # as an INSERT would (encrypted)
    params: dict[str, Any] = {
        "r_id": [step_id for step_id, _v in changes],
        "r_output": [output(v["output"]) if output else v["output"] for _id, v in changes],
        "r_state": str(StepState.COMPLETED),
        "r_running": str(StepState.RUNNING),
        "r_owner": owner,
        "r_finished_at": [v["finished_at"] for _id, v in changes],
    }
    params |= record_params(items, now, dialect)
    await s.execute(_RELEASE_AND_RECORD, params)


# the release is a data-modifying CTE: PostgreSQL runs it whether or not it is read
_RELEASE_AND_RECORD = text(
    """
    WITH released AS (
        UPDATE steps SET state = :r_state, output = u.output, error = NULL,
            finished_at = u.finished_at, lease_owner = NULL, lease_expires_at = NULL
        FROM unnest(CAST(:r_id AS integer[]), CAST(:r_output AS json[]),
            CAST(:r_finished_at AS timestamptz[])) AS u(id, output, finished_at)
        WHERE steps.id = u.id AND steps.lease_owner = :r_owner AND steps.state = :r_running
    ),"""
    + RECORD_SQL.strip().removeprefix("WITH")
)
