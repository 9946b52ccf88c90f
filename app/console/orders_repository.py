"""The orders list's SQL: plans searched, filtered and paged; batches for the CSV export.

One row per plan (an order has one plan per scenario).  The ERP number is the first
external id a connector call of the plan's steps returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from revflow.db.models import ConnectorCall, Plan, Step

SORTS: dict[str, Any] = {
    "newest": Plan.id.desc(),
    "oldest": Plan.id.asc(),
    "due": Plan.due_at.asc(),
}


@dataclass(frozen=True)
class OrderFilter:
    q: str = ""  # order id, account id, correlation id, ERP number or plan id
    state: str = ""
    account: str = ""
    region: str = ""
    channel: str = ""
    jeopardy: str = ""
    definition: str = ""
    sort: str = "newest"


@dataclass(frozen=True)
class OrderRow:
    plan_id: int
    order_id: str
    scenario: str
    definition: str
    correlation_id: str
    account_id: str | None
    region: str | None
    channel: str | None
    state: str
    jeopardy: str | None
    erp_number: str | None
    created_at: datetime
    completed_at: datetime | None
    due_at: datetime | None


def _erp_number() -> Any:
    return (
        select(func.min(ConnectorCall.external_id))
        .join(Step, Step.id == ConnectorCall.step_id)
        .where(Step.plan_id == Plan.id, ConnectorCall.external_id.is_not(None))
        .where(ConnectorCall.external_id != "")
        .correlate(Plan)
        .scalar_subquery()
    )


def _filtered(f: OrderFilter) -> Select[Any]:
    erp = _erp_number()
    q: Any = select(  # Select of 12 columns: too many for its typed overloads
        Plan.id.label("plan_id"),
        Plan.order_id,
        Plan.scenario,
        Plan.definition,
        Plan.correlation_id,
        Plan.account_id,
        Plan.region,
        Plan.channel,
        Plan.state,
        Plan.jeopardy,
        erp.label("erp_number"),
        Plan.created_at,
        Plan.completed_at,
        Plan.due_at,
    )
    text = f.q.strip()
    if text:
        like = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # uncorrelated: the calls with that number are read once, not once per plan
        by_erp = Plan.id.in_(
            select(Step.plan_id)
            .join(ConnectorCall, ConnectorCall.step_id == Step.id)
            .where(ConnectorCall.external_id == text)
        )
        terms: list[ColumnElement[bool]] = [
            Plan.order_id.like(like, escape="\\"),
            Plan.correlation_id.like(like, escape="\\"),
            Plan.account_id.like(like, escape="\\"),
            by_erp,
        ]
        if text.isdigit() and int(text) < 2**31:
            terms.append(Plan.id == int(text))
        q = q.where(or_(*terms))
    if f.state:
        q = q.where(Plan.state == f.state)
    if f.jeopardy == "none":
        q = q.where(Plan.jeopardy.is_(None))
    elif f.jeopardy:
        q = q.where(Plan.jeopardy == f.jeopardy)
    if f.definition:
        q = q.where(Plan.definition == f.definition)
    for column, value in ((Plan.account_id, f.account), (Plan.region, f.region)):
        if value:
            q = q.where(column == value)
    if f.channel:
        q = q.where(Plan.channel == f.channel)
    return q


def _row(r: Any) -> OrderRow:
    return OrderRow(**{k: getattr(r, k) for k in OrderRow.__dataclass_fields__})


async def list_orders(
    s: AsyncSession, f: OrderFilter, *, offset: int, limit: int
) -> tuple[list[OrderRow], int]:
    """One page of plans and how many match in all.

    The page's ids come first, then their rows: with an OFFSET, PostgreSQL would
    compute the ERP number of every row skipped too."""
    base = _filtered(f)
    conditions = base.whereclause
    count = select(func.count(Plan.id))
    ids_q = select(Plan.id)
    if conditions is not None:
        count, ids_q = count.where(conditions), ids_q.where(conditions)
    total = await s.scalar(count) or 0
    order = (SORTS.get(f.sort, SORTS["newest"]), Plan.id.desc())
    ids = list(await s.scalars(ids_q.order_by(*order).offset(offset).limit(limit)))
    if not ids:
        return [], int(total)
    rows = {r.plan_id: _row(r) for r in (await s.execute(base.where(Plan.id.in_(ids)))).all()}
    return [rows[i] for i in ids if i in rows], int(total)


async def export_batch(
    s: AsyncSession, f: OrderFilter, after_id: int, limit: int
) -> list[OrderRow]:
    """The next ``limit`` matching plans with an id above ``after_id`` (keyset paging)."""
    q = _filtered(f).where(Plan.id > after_id).order_by(Plan.id).limit(limit)
    return [_row(r) for r in (await s.execute(q)).all()]


async def choices(s: AsyncSession, column: Any) -> Sequence[str]:
    """The values of a plan column in use (definition, region, channel), for a filter."""
    q = select(column).where(column.is_not(None)).distinct().order_by(column).limit(500)
    return list(await s.scalars(q))
