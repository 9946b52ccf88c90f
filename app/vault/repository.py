"""The vault's queries: stored secrets by name, and raw encrypted values page by page.

Raw pages read a column without its type's decryption (the stored tokens), so key
rotation can re-wrap them without ever seeing a plaintext.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, TableClause, bindparam, column, delete, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from revflow.db.models import StoredSecret


async def get_secret(s: AsyncSession, name: str) -> StoredSecret | None:
    return await s.get(StoredSecret, name)


async def secret_names(s: AsyncSession) -> list[str]:
    return list((await s.scalars(select(StoredSecret.name).order_by(StoredSecret.name))).all())


async def delete_secret(s: AsyncSession, name: str) -> bool:
    result = await s.execute(delete(StoredSecret).where(StoredSecret.name == name))
    return bool(getattr(result, "rowcount", 0))


def _raw(col: Column[Any]) -> tuple[TableClause, Any, Any]:
    """A lightweight table over ``col``'s table: its primary key and ``col`` untyped."""
    pk = list(col.table.primary_key.columns)
    if len(pk) != 1:
        raise ValueError(f"{col.table.name} needs a one-column primary key to be rotated")
    kind = col.type.impl_instance if isinstance(col.type, TypeDecorator) else col.type
    raw = table(col.table.name, column(pk[0].name, pk[0].type), column(col.name, kind))
    return raw, raw.c[pk[0].name], raw.c[col.name]


async def raw_page(
    s: AsyncSession, col: Column[Any], after: Any, limit: int, *, lock: bool
) -> list[tuple[Any, Any]]:
    """Up to ``limit`` (primary key, stored value) after ``after``; locked when ``lock``."""
    raw, pk, value = _raw(col)
    q = select(pk, value).where(value.is_not(None)).order_by(pk).limit(limit)
    if after is not None:
        q = q.where(pk > after)
    if lock:
        q = q.with_for_update()
    return [(r[0], r[1]) for r in (await s.execute(q)).all()]


async def raw_update(s: AsyncSession, col: Column[Any], values: dict[Any, Any]) -> None:
    """Store ``values`` (primary key -> stored value) in one executemany."""
    if not values:
        return
    raw, pk, value = _raw(col)
    stmt = update(raw).where(pk == bindparam("_key")).values({value.name: bindparam("_value")})
    await s.execute(stmt, [{"_key": k, "_value": v} for k, v in values.items()])
