"""The console's queries: the dashboard's aggregates, computed by the database.

Every function takes the session first and reads only; plans are never loaded into
Python, only counts, sums and percentiles come back.  Fulfillment time is a plan's
``created_at`` (the activation Revflow received) to its ``completed_at``.  Percentiles
are nearest-rank (``percentile_disc`` on PostgreSQL; on SQLite the row at that rank
by ``ORDER BY ... LIMIT 1 OFFSET``), so both databases give the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    and_,
    case,
    cast,
    distinct,
    exists,
    extract,
    func,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from revflow.console.filters import Filters, Period
from revflow.db.models import (
    AuditEntry,
    Plan,
    PlanProductFamily,
    SalesforceApiUsage,
    Step,
    WebhookEndpoint,
)
from revflow.plans.state import FINAL_PLAN, PlanState, StepState

FINAL = [str(s) for s in FINAL_PLAN]
ENDED_UNCOMPLETED = [str(PlanState.CANCELLED), str(PlanState.FAILED)]
OPEN = [str(s) for s in PlanState if s not in FINAL_PLAN]
OPERATOR_ACTION = "operator.%"  # audit actions of people acting on a plan


def _sqlite(s: AsyncSession) -> bool:
    return s.get_bind().dialect.name == "sqlite"


def seconds_between(s: AsyncSession, start: Any, end: Any) -> ColumnElement[float]:
    if _sqlite(s):
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(extract("epoch", end - start), Float)


def day_of(s: AsyncSession, column: Any) -> ColumnElement[Any]:
    """The UTC day of a timestamp (a ``YYYY-MM-DD`` string on SQLite, a date on PostgreSQL)."""
    if _sqlite(s):
        return func.date(column)
    return func.date(func.timezone("UTC", column))


def plan_filter(f: Filters) -> list[ColumnElement[bool]]:
    """Conditions on ``plans`` for the facet filters that are set."""
    out: list[ColumnElement[bool]] = []
    if f.region:
        out.append(Plan.region == f.region)
    if f.channel:
        out.append(Plan.channel == f.channel)
    if f.account:
        out.append(Plan.account_id == f.account)
    if f.definition:
        out.append(Plan.definition == f.definition)
    # EXISTS probes an index per plan of the period, instead of listing every plan
    # of a common family or connector first
    if f.family:
        out.append(
            exists().where(
                PlanProductFamily.plan_id == Plan.id, PlanProductFamily.family == f.family
            )
        )
    if f.connector:
        other = aliased(Step)  # the fallout queries select from steps themselves
        out.append(exists().where(other.plan_id == Plan.id, other.connector == f.connector))
    return out


def _unindexed(column: Any, empty: Any = "") -> ColumnElement[Any]:
    """``column`` as an expression no index matches: steers SQLite's planner (which has
    no statistics on ranges) to the index of a more selective condition."""
    return func.coalesce(column, empty)


def _in(column: Any, p: Period) -> ColumnElement[bool]:
    return and_(column >= p.start, column < p.end)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


@dataclass(frozen=True)
class PeriodKpis:
    received: int
    in_progress: int  # open at the period's end
    completed: int
    cancelled: int
    on_time: int  # completed by the due date, of those completed that had one
    with_due_date: int
    automated: int  # completed with no operator action on the plan
    steps_run: int  # steps of plans received in the period that ran at least once
    steps_erroneous: int  # ... that failed at least once (retried, or failed)
    p50_s: float | None
    p95_s: float | None
    api_calls: int  # Revflow's Salesforce REST calls in the period (all orders)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.with_due_date if self.with_due_date else None

    @property
    def automation_rate(self) -> float | None:
        return self.automated / self.completed if self.completed else None

    @property
    def erroneous_rate(self) -> float | None:
        return self.steps_erroneous / self.steps_run if self.steps_run else None


async def received(s: AsyncSession, f: Filters, p: Period) -> int:
    q = select(func.count(distinct(Plan.order_id))).where(_in(Plan.created_at, p), *plan_filter(f))
    return int(await s.scalar(q) or 0)


async def completions(s: AsyncSession, f: Filters, p: Period) -> tuple[int, int, int, int]:
    """(completed, on time, with a due date, automated) for plans completed in ``p``."""
    operator_acted = exists().where(
        AuditEntry.plan_id == Plan.id, AuditEntry.action.like(OPERATOR_ACTION)
    )
    has_due = Plan.due_at.is_not(None)
    q = select(
        func.count(),
        _count(and_(has_due, Plan.completed_at <= Plan.due_at)),
        _count(has_due),
        _count(not_(operator_acted)),
    ).where(_completed_in(p), *plan_filter(f))
    row = (await s.execute(q)).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _completed_in(p: Period) -> ColumnElement[bool]:
    return and_(_in(Plan.completed_at, p), Plan.state == PlanState.COMPLETED)


async def cancelled(s: AsyncSession, f: Filters, p: Period) -> int:
    q = select(func.count()).where(
        Plan.state == PlanState.CANCELLED, _in(Plan.updated_at, p), *plan_filter(f)
    )
    return int(await s.scalar(q) or 0)


async def open_at(s: AsyncSession, f: Filters, at: datetime) -> int:
    """Plans received before ``at`` and not finished by then: open now, or finished
    after ``at`` (three disjoint counts, so each can use an index)."""
    before = [Plan.created_at < at, *plan_filter(f)]
    parts = [
        Plan.state.in_(OPEN),
        and_(Plan.completed_at >= at, _unindexed(Plan.state) == PlanState.COMPLETED),
        and_(Plan.state.in_(ENDED_UNCOMPLETED), Plan.updated_at >= at),
    ]
    total = 0
    for part in parts:
        total += int(await s.scalar(select(func.count()).where(part, *before)) or 0)
    return total


async def step_errors(s: AsyncSession, f: Filters, p: Period) -> tuple[int, int]:
    """(steps that ran, steps that failed at least once) of plans received in ``p``."""
    plans = select(Plan.id).where(_in(Plan.created_at, p), *plan_filter(f))
    erroneous = or_(Step.attempts > 1, Step.state == StepState.FAILED)
    q = select(func.count(), _count(erroneous)).where(Step.plan_id.in_(plans), Step.attempts > 0)
    row = (await s.execute(q)).one()
    return int(row[0]), int(row[1])


async def fulfillment_percentiles(
    s: AsyncSession, f: Filters, p: Period, percents: tuple[int, ...] = (50, 95)
) -> list[float | None]:
    """Nearest-rank percentiles of fulfillment seconds of plans completed in ``p``."""
    duration = seconds_between(s, Plan.created_at, Plan.completed_at)
    where = [_completed_in(p), *plan_filter(f)]
    if not _sqlite(s):
        cols = [func.percentile_disc(pc / 100).within_group(duration) for pc in percents]
        row = (await s.execute(select(*cols).where(*where))).one()
        return [float(v) if v is not None else None for v in row]
    # one sorted pass: each row's rank and the count; the rank of percentile pc is
    # ceil(pc * n / 100), in integers (SQLite may lack ceil)
    ranked = (
        select(
            duration.label("d"),
            func.row_number().over(order_by=duration).label("rank"),
            func.count().over().label("n"),
        )
        .where(*where)
        .subquery()
    )
    wanted = [(pc * ranked.c.n + 99) // 100 for pc in percents]
    q = select(ranked.c.rank, ranked.c.n, ranked.c.d).where(
        or_(*(ranked.c.rank == func.max(w, 1) for w in wanted))
    )
    rows = (await s.execute(q)).all()
    if not rows:
        return [None for _ in percents]
    n = int(rows[0].n)
    at_rank = {int(r.rank): float(r.d) for r in rows}
    return [at_rank.get(max(1, -(-pc * n // 100))) for pc in percents]


async def api_calls(s: AsyncSession, p: Period) -> int:
    q = select(func.coalesce(func.sum(SalesforceApiUsage.calls), 0)).where(
        _in(SalesforceApiUsage.hour, p)
    )
    return int(await s.scalar(q) or 0)


async def period_kpis(s: AsyncSession, f: Filters, p: Period) -> PeriodKpis:
    done, on_time, with_due, automated = await completions(s, f, p)
    run, erroneous = await step_errors(s, f, p)
    p50, p95 = await fulfillment_percentiles(s, f, p)
    return PeriodKpis(
        received=await received(s, f, p),
        in_progress=await open_at(s, f, p.end),
        completed=done,
        cancelled=await cancelled(s, f, p),
        on_time=on_time,
        with_due_date=with_due,
        automated=automated,
        steps_run=run,
        steps_erroneous=erroneous,
        p50_s=p50,
        p95_s=p95,
        api_calls=await api_calls(s, p),
    )


# -- fallout (open now) -------------------------------------------------------------


def error_class(s: AsyncSession) -> ColumnElement[str]:
    """A failed step's error up to its first colon (``non-retryable ConnectorError``)."""
    text = func.coalesce(Step.error, literal("unknown"))
    if _sqlite(s):
        cut = func.instr(text, ":")
        return case((cut > 1, func.substr(text, 1, cut - 1)), else_=func.substr(text, 1, 60))
    return func.left(func.split_part(text, ":", 1), 60)


def _fallout(f: Filters) -> list[ColumnElement[bool]]:
    # driven by the few failed steps, checked against the open plans' ids
    open_plans = select(Plan.id).where(Plan.state.in_(OPEN), *plan_filter(f))
    return [Step.state == StepState.FAILED, _unindexed(Step.plan_id, 0).in_(open_plans)]


async def fallout_open(s: AsyncSession, f: Filters) -> int:
    return int(await s.scalar(select(func.count()).where(*_fallout(f))) or 0)


async def fallout_by(s: AsyncSession, f: Filters, by: str) -> list[tuple[str, int]]:
    """Open fallout counted by ``error_class`` or ``connector``, largest first."""
    key = error_class(s) if by == "error_class" else func.coalesce(Step.connector, "(none)")
    q = (
        select(key.label("k"), func.count().label("n"))
        .where(*_fallout(f))
        .group_by(key)
        .order_by(func.count().desc(), key)
    )
    return [(str(k), int(n)) for k, n in (await s.execute(q)).all()]


# -- per day ----------------------------------------------------------------------


async def status_by_day(s: AsyncSession, f: Filters, p: Period) -> list[tuple[str, str, int]]:
    """(day, plan state now, plans) for the plans received each day of ``p``."""
    day = day_of(s, Plan.created_at)
    q = (
        select(day, Plan.state, func.count())
        .where(_in(Plan.created_at, p), *plan_filter(f))
        .group_by(day, Plan.state)
        .order_by(day, Plan.state)
    )
    return [(str(d), str(st), int(n)) for d, st, n in (await s.execute(q)).all()]


async def completed_by_day(s: AsyncSession, f: Filters, p: Period) -> list[tuple[str, int, float]]:
    """(day, plans completed, their mean fulfillment seconds) for each day of ``p``."""
    day = day_of(s, Plan.completed_at)
    duration = seconds_between(s, Plan.created_at, Plan.completed_at)
    q = (
        select(day, func.count(), func.avg(duration))
        .where(_completed_in(p), *plan_filter(f))
        .group_by(day)
        .order_by(day)
    )
    return [(str(d), int(n), float(m or 0.0)) for d, n, m in (await s.execute(q)).all()]


# -- integrations and filter choices ------------------------------------------------


@dataclass(frozen=True)
class WebhookHealth:
    endpoints: int
    enabled: int
    failing: int  # enabled, with failures since the last success
    disabled: int


async def webhook_health(s: AsyncSession) -> WebhookHealth:
    enabled = WebhookEndpoint.state == "enabled"
    q = select(
        func.count(),
        _count(enabled),
        _count(and_(enabled, WebhookEndpoint.consecutive_failures > 0)),
        _count(WebhookEndpoint.state == "disabled"),
    )
    row = (await s.execute(q)).one()
    return WebhookHealth(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


CHOICES = {
    "region": ("plans", "region"),
    "channel": ("plans", "channel"),
    "definition": ("plans", "definition"),
    "family": ("plan_product_families", "family"),
    "connector": ("steps", "connector"),
}
MAX_CHOICES = 200


async def choices(s: AsyncSession) -> dict[str, list[str]]:
    """The values each select filter offers.

    Each column leads an index, so the distinct values are read by skipping through
    it (a recursive query: the next value above the last one), not by reading rows.
    """
    out: dict[str, list[str]] = {}
    for name, (table, column) in CHOICES.items():  # our own names, not input
        q = text(
            f"WITH RECURSIVE v(x, n) AS ("
            f" SELECT min({column}), 1 FROM {table}"
            f" UNION ALL SELECT (SELECT min({column}) FROM {table} WHERE {column} > v.x), n + 1"
            f" FROM v WHERE v.x IS NOT NULL AND n < :most)"
            f" SELECT x FROM v WHERE x IS NOT NULL"
        )
        out[name] = [str(x) for x in (await s.scalars(q, {"most": MAX_CHOICES})).all()]
    return out
