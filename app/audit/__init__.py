"""The append-only audit log: every state change and operator action, with who and why.

Entries are chained by hash when their transaction commits (``revflow.audit.chain``);
``record`` and ``record_many`` keep them as plain rows, inserted already sealed in one
INSERT at commit (no ORM object, no flush), in recording order; in a savepoint they
are ORM entries, so that its rollback drops them (chained before the rows);
``revflow audit verify`` checks the chain, ``revflow audit export`` writes JSON lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from revflow.audit import chain
from revflow.clock import utcnow
from revflow.db.models import AuditEntry

chain.install()


def record(
    session: AsyncSession,
    actor: str,
    action: str,
    *,
    plan_id: int | None = None,
    order_id: str | None = None,
    correlation_id: str | None = None,
    **detail: Any,
) -> None:
    # set here, so the hash sealed at commit covers what is stored
    row = _row(utcnow(), actor, action, plan_id, order_id, correlation_id, detail)
    if session.in_nested_transaction():
        # an ORM entry: the savepoint's rollback drops it
        session.add(AuditEntry(**row))
    else:
        chain.queue(session.sync_session, [row])


def record_many(
    session: AsyncSession, actor: str, action: str, entries: Iterable[dict[str, Any]]
) -> None:
    """``record`` for each of ``entries`` (``plan_id``, ``order_id``, ``correlation_id``
    and the detail's items, as ``record``'s keywords), with one timestamp."""
    if session.in_nested_transaction():
        for e in entries:
            record(session, actor, action, **e)
        return
    at = utcnow()
    rows = []
    for e in entries:
        detail = dict(e)
        plan_id, order_id = detail.pop("plan_id", None), detail.pop("order_id", None)
        correlation_id = detail.pop("correlation_id", None)
        rows.append(_row(at, actor, action, plan_id, order_id, correlation_id, detail))
    chain.queue(session.sync_session, rows)


def _row(
    at: datetime,
    actor: str,
    action: str,
    plan_id: int | None,
    order_id: str | None,
    correlation_id: str | None,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "plan_id": plan_id,
        "order_id": order_id,
        "correlation_id": correlation_id,
        "detail": detail,
    }
