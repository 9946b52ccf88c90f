"""Reconciliation: find activated Orders the event stream missed, by ``SystemModstamp``.

- ``Reconciler.sweep_once`` reads activated and cancelled Orders modified since the
  stored cursor (minus ``skew_s``; the first sweep starts ``lookback_s`` ago), creates
  the plans that are missing through intake's one plan-creation path (which writes a
  cancelled Order that never had a plan back as Cancelled, once), and advances
  ``ReconcileCursor('Order')`` in the same transaction.
- ``Reconciler.run`` sweeps every ``reconcile.interval_s``; with ``transport: polling``
  (orgs without CDC) the sweep is the only intake and runs every ``polling_interval_s``.
- ``reconcile_window`` re-reads one entity over a time window (overflow, expired
  replay id) without touching the cursor.

Pages are read with keyset pagination on ``(SystemModstamp, Id)``, so many records
sharing one timestamp (a bulk load) are neither skipped nor read forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from revflow import incidents
from revflow.aio import Beat, no_beat, sleep_beating, sleep_until
from revflow.alerts.service import raise_deferred
from revflow.clock import aware, utcnow
from revflow.config import Settings
from revflow.db.database import Database
from revflow.incidents import StandingFailure, is_permanent
from revflow.ingest import repository
from revflow.salesforce.client import SalesforceClient
from revflow.salesforce.errors import SalesforceError

log = logging.getLogger("revflow.reconcile")

PAGE_SIZE = 2000
# a missed window may also hide cancellations (of planned and unplanned orders alike)
ACTIVATED_OR_CANCELLED = "Status IN ('Activated', 'Cancelled', 'Canceled')"
SWEPT_ENTITY = "Order"
SWEEP_INCIDENT = "salesforce:reconcile:sweep"  # incident key while sweeps fail permanently


class PlanOutcomeLike(Protocol):
    """One order's outcome (``intake.OrderOutcome``)."""

    @property
    def created(self) -> bool: ...


InTransaction = Callable[[AsyncSession, Mapping[str, PlanOutcomeLike]], Awaitable[None]]


class PlanCreator(Protocol):
    """What the reconciler needs of intake: its one plan-creation path."""

    async def create_plans_for_orders(
        self,
        ids: Iterable[str],
        reason: str | Mapping[str, str],
        *,
        in_transaction: InTransaction | None = None,
    ) -> Mapping[str, PlanOutcomeLike]: ...


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal with milliseconds (``2026-01-01T12:00:00.000Z``)."""
    value = as_utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def as_utc(value: datetime) -> datetime:
    """Aware UTC (SQLite hands back naive datetimes)."""
    return aware(value).astimezone(UTC)


def parse_modstamp(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


async def scan_modified(
    client: SalesforceClient,
    entity: str,
    since: datetime,
    *,
    fields: str = "Id, SystemModstamp",
    where: str = "",
    until: datetime | None = None,
    inclusive: bool = True,
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Pages of ``entity`` records with ``SystemModstamp`` after ``since``, oldest first."""
    base = [where] if where else []
    if until is not None:
        base.append(f"SystemModstamp <= {soql_datetime(until)}")
    op = ">=" if inclusive else ">"
    window = f"SystemModstamp {op} {soql_datetime(since)}"
    while True:
        soql = (
            f"SELECT {fields} FROM {entity} WHERE {' AND '.join([*base, window])} "
            f"ORDER BY SystemModstamp, Id LIMIT {page_size}"
        )
        page = await client.query(soql)
        if page:
            yield page
        if len(page) < page_size:
            return
        last = page[-1]
        stamp = soql_datetime(parse_modstamp(last["SystemModstamp"]))
        window = f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{last['Id']}'))"


async def order_ids_modified_since(
    client: SalesforceClient, entity: str, since: datetime
) -> list[str]:
    """Orders to re-read for a change window on ``entity``: activated or cancelled
    Orders, or the parent Orders of OrderItems.  Other entities give nothing."""
    ids: list[str] = []
    if entity == "Order":
        async for page in scan_modified(client, "Order", since, where=ACTIVATED_OR_CANCELLED):
            ids.extend(r["Id"] for r in page)
    elif entity == "OrderItem":
        fields = "Id, OrderId, SystemModstamp"
        async for page in scan_modified(client, "OrderItem", since, fields=fields):
            ids.extend(r["OrderId"] for r in page if r.get("OrderId"))
    return list(dict.fromkeys(ids))


@dataclass
class SweepResult:
    since: datetime
    seen: int = 0
    created: list[str] = field(default_factory=list)
    cursor: datetime | None = None


class Reconciler:
    """The ``SystemModstamp`` sweep (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        client: SalesforceClient,
        settings: Settings,
        plans: PlanCreator,
        *,
        polling_interval_s: float | None = None,
        settle_s: float | None = None,
        page_size: int = PAGE_SIZE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``settle_s``: leave Orders modified this recently to the stream (default
        ``reconcile.skew_s``; 0 in polling mode, where there is no stream)."""
        self.db = db
        self.client = client
        self.settings = settings
        self.plans = plans
        self.polling = settings.ingest.transport == "polling"
        self.polling_interval_s = polling_interval_s or max(settings.ingest.poll_interval_s, 5.0)
        default_settle = 0.0 if self.polling else settings.reconcile.skew_s
        self.settle_s = default_settle if settle_s is None else settle_s
        self.page_size = page_size
        self.failure = StandingFailure(db, SWEEP_INCIDENT, "the reconciliation sweep")
        self.clock = clock

    @property
    def interval_s(self) -> float:
        return self.polling_interval_s if self.polling else self.settings.reconcile.interval_s

    async def run(self, stop: asyncio.Event, beat: Beat = no_beat) -> None:
        """Sweep until ``stop``; a failed sweep ends the loop (the supervisor restarts it)."""
        if not (self.polling or self.settings.reconcile.enabled):
            return
        while not stop.is_set():
            budget = getattr(self.client, "budget", None)
            if not self.polling and budget is not None and not budget.allows():
                # a non-urgent sweep: skipped while Revflow's API budget is used up (its
                # cursor stays, so the next allowed sweep covers the window)
                await budget.pause_alert(self.db, "reconcile")
                beat()
                await sleep_until(self.interval_s, stop)
                continue
            wait = self.interval_s
            try:
                result = await self.sweep_once()
            except SalesforceError as exc:
                if not is_permanent(exc):
                    raise  # the supervisor restarts the loop after a backoff
                # waiting will not fix it: an incident, and slow retries
                wait = max(wait, self.settings.salesforce.incident_retry_s)
                await self.failure.failed(exc, wait)
            else:
                if result.created:
                    log.info("sweep created plans", extra={"orders": len(result.created)})
                await self.failure.worked()
            beat()
            await sleep_beating(wait, beat, self.interval_s, stop)

    async def cursor(self) -> datetime | None:
        async with self.db.read() as s:
            row = await repository.get_cursor(s, SWEPT_ENTITY)
            return as_utc(row.last_modstamp) if row else None

    async def sweep_once(self) -> SweepResult:
        """One sweep: create missing plans for activated Orders, note cancelled Orders
        that never had one (written back Cancelled once); advance the cursor."""
        rc = self.settings.reconcile
        now = self.clock()
        cursor = await self.cursor()
        if cursor:
            since = cursor - timedelta(seconds=rc.skew_s)
        elif self.polling or self.settings.ingest.initial_replay == "earliest":
            since = now - timedelta(seconds=rc.lookback_s)
        else:  # a fresh install listening from the tip does not backfill old orders
            since = now - timedelta(seconds=rc.skew_s)
        until = now - timedelta(seconds=self.settle_s) if self.settle_s else None
        result = SweepResult(since=since, cursor=cursor)
        reason = "poll" if self.polling else "sweep"
        pages = scan_modified(
            self.client,
            SWEPT_ENTITY,
            since,
            # cancelled too: an order activated and cancelled while every event about it
            # was lost (down past retention) has no plan, and only this finds it
            where=ACTIVATED_OR_CANCELLED,
            until=until,
            inclusive=False,
            page_size=self.page_size,
        )
        async for page in pages:
            top = max(parse_modstamp(r["SystemModstamp"]) for r in page)
            hook = partial(self._page_done, top=top, since=since)
            outcomes = await self.plans.create_plans_for_orders(
                [r["Id"] for r in page], reason, in_transaction=hook
            )
            result.seen += len(page)
            result.created.extend(oid for oid, o in outcomes.items() if o.created)
            result.cursor = max(top, result.cursor) if result.cursor else top
        return result

    async def _page_done(
        self,
        s: AsyncSession,
        outcomes: Mapping[str, PlanOutcomeLike],
        *,
        top: datetime,
        since: datetime,
    ) -> None:
        await repository.advance_cursor(s, SWEPT_ENTITY, top)
        created = [oid for oid, o in outcomes.items() if o.created]
        if created and not self.polling:
            incidents.record_recovered(
                s,
                "sweep_found",
                {"order_ids": created[:500], "count": len(created), "since": since.isoformat()},
                f"the stream missed {len(created)} activation(s); "
                "the SystemModstamp sweep created the plan(s)",
                entity=SWEPT_ENTITY,
            )
            await raise_deferred(s)

    async def reconcile_window(
        self, entity: str, since: datetime, *, reason: str = "reconcile"
    ) -> SweepResult:
        """Create missing plans for ``entity`` changes since ``since`` (Order: activated
        Orders; OrderItem: their parent Orders).  The cursor is left alone; the caller
        records its own incident."""
        result = SweepResult(since=since)
        ids = await order_ids_modified_since(self.client, entity, since)
        for start in range(0, len(ids), self.page_size):
            chunk = ids[start : start + self.page_size]
            outcomes = await self.plans.create_plans_for_orders(chunk, reason)
            result.seen += len(chunk)
            result.created.extend(oid for oid, o in outcomes.items() if o.created)
        return result
