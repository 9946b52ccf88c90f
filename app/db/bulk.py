"""Many rows in one INSERT on the model's table (Core, not the ORM's bulk form).

The ORM's bulk INSERT walks every row dict through its persistence layer once more
before Core sees it; the columns' defaults and types (JSON, encryption) are the
table's and apply all the same.  Rows are keyed by column name, as the models are.

``queue`` keeps rows to insert when the session's transaction commits, one
executemany per table, in queue order: a caller that adds a few rows to a
transaction pays no ORM flush for them.  Rows queued in a savepoint that rolls back
are dropped with it.  Queued rows are not visible to the transaction's own queries
(there is no autoflush for them): queue only rows the transaction does not read back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

_QUEUED = "revflow.bulk_queued"  # session.info: [(table, row)] in queue order
_MARKS = "revflow.bulk_marks"  # session.info: {savepoint: queue length when it began}


async def insert_ids(
    session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]]
) -> list[int]:
    """Insert ``rows`` of ``model``; their ids, in ``rows``' order (ascending: sorted
    by parameter order, SQLAlchemy numbers the rows in that order)."""
    if not rows:
        return []
    table = model.__table__
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list((await session.scalars(stmt, rows)).all())


async def insert_rows(session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` of ``model`` (an executemany), ids unused: without RETURNING it
    costs this process less CPU than a multi-row INSERT (measured)."""
    if rows:
        await session.execute(insert(model.__table__), rows)


def queue(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` of ``model`` when ``session``'s transaction commits (ids follow
    queue order).  All rows queued for one table must have the same keys."""
    table: Table = model.__table__
    session.info.setdefault(_QUEUED, []).extend((table, row) for row in rows)


def insert_queued(session: Session) -> None:
    """Insert the rows queued so far (in the session's greenlet: a commit's event)."""
    queued: list[tuple[Table, dict[str, Any]]] = session.info.pop(_QUEUED, [])
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, row in queued:
        by_table.setdefault(table, []).append(row)
    for table, rows in by_table.items():
        session.execute(insert(table), rows)


def _began(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_QUEUED, ()))


def _rolled_back(session: Session, transaction: SessionTransaction) -> None:
    mark = session.info.get(_MARKS, {}).pop(transaction, None)
    if transaction.nested and mark is not None:
        del session.info.get(_QUEUED, [])[mark:]


def _commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release fires it too
        insert_queued(session)


def _ended(session: Session, transaction: SessionTransaction) -> None:
    # only the outermost: a savepoint's rollback is seen after its end (_rolled_back)
    if transaction.parent is None:  # committed (rows inserted) or rolled back (dropped)
        session.info.pop(_QUEUED, None)
        session.info.pop(_MARKS, None)


def install() -> None:
    """Insert queued rows at commit in every session (idempotent)."""
    if not event.contains(Session, "before_commit", _commit):
        event.listen(Session, "after_transaction_create", _began)
        event.listen(Session, "after_soft_rollback", _rolled_back)
        event.listen(Session, "before_commit", _commit)
        event.listen(Session, "after_transaction_end", _ended)


install()
