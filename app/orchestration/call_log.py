"""The connector call log: one call per idempotency key, one row per attempt.

Queries only, in the caller's transaction (the worker's outcome commit).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, or_
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import ConnectorAttempt, ConnectorCall
from revflow.orchestration.executor import ClaimedStep, Outcome, StepResult

CALLS = cast(Table, ConnectorCall.__table__)
ATTEMPTS = cast(Table, ConnectorAttempt.__table__)


async def record_attempts(
    s: AsyncSession, items: Sequence[tuple[ClaimedStep, StepResult, Outcome]], now: datetime
) -> None:
    """Upsert the connector calls (one per idempotency key) and insert the attempts."""
    if not items:
        return
    calls: list[dict[str, object]] = []
    for step, result, outcome in items:
        status = {Outcome.COMPLETED: "succeeded", Outcome.FATAL: "failed"}.get(outcome, "retrying")
        calls.append(
            {
                "step_id": step.id,
                "connector": step.connector or "",
                "action": step.action or "",
                "idempotency_key": step.idempotency_key,
                "correlation_id": step.correlation_id,
                "status": status,
                "external_id": result.external_id,
                "created_at": now,
            }
        )
    stmt = _upsert_calls(s.get_bind().dialect.name)
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
            "started_at": datetime.fromtimestamp(result.started, now.tzinfo)
            if result.started
            else now,
            "finished_at": now,
        }
        for step, result, outcome in items
    ]
    await s.execute(_INSERT_ATTEMPTS, attempts)


_INSERT_ATTEMPTS = insert_into(ATTEMPTS)


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
