"""The orders list's SQL: plans searched, filtered and paged; batches for the CSV export.

One row per plan (an order has one plan per scenario).  The ERP number is the first
external id a connector call of the plan's steps returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
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
        by_erp = (
            select(ConnectorCall.id)
            .join(Step, Step.id == ConnectorCall.step_id)
            .where(Step.plan_id == Plan.id, ConnectorCall.external_id == text)
            .correlate(Plan)
            .exists()
        )
        terms = [
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
    """One page of plans and how many match in all."""
    base = _filtered(f)
    total = await s.scalar(select(func.count()).select_from(base.subquery())) or 0
    q = base.order_by(SORTS.get(f.sort, SORTS["newest"]), Plan.id.desc())
    rows = (await s.execute(q.offset(offset).limit(limit))).all()
    return [_row(r) for r in rows], int(total)


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
