"""Many rows in one INSERT on the model's table (Core, not the ORM's bulk form).

The ORM's bulk INSERT walks every row dict through its persistence layer once more
before Core sees it; the columns' defaults and types (JSON, encryption) are the
table's and apply all the same.  Rows are keyed by column name, as the models are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession


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
